# sluice as the "custom" peer of the loopback relay benchmark
# (../../shared/bench, driven by run.sh here): it accepts mail on
# 127.0.0.1:2525 from 127.0.0.0/8 and forwards everything to smtp-sink on
# 127.0.0.1:2526. The queue is the production one: every 250 follows the
# fsync of the message data, its envelope and the queue directory.

hostname = "bench-sluice.localdomain"

# On the same file system as the Postfix instance's queue, so both pay for
# the same fsyncs. run.sh rewrites this line when BENCH_STATE is elsewhere.
data_dir = "/var/lib/mtabench/sluice"

trusted_networks = ["127.0.0.0/8"]

# pprof_listen = "127.0.0.1:6060" # uncomment to profile under load (run.sh --pprof)

log {
  level = "info" # as in production: one line per accepted and per delivered message
}

limits {
  # smtp-source opens up to 50 sessions from one address.
  max_connections_per_ip = 200
}

queue {
  concurrency_per_destination = 20
}

listener "bench" {
  kind     = "smtp"
  address  = "127.0.0.1:2525"
  starttls = false
}

domain "*" {
  deliver "smtp" {
    address = "127.0.0.1:2526"
    tls     = "none"
  }
}
