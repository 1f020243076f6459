#!/usr/bin/python3
"""Independent DKIM signer and verifier for the end-to-end tests: dkimpy
(Debian's python3-dkim), not go-msgauth.

  dkimpy.py verify < message      exit 0 and print "pass" if every signature verifies
  dkimpy.py sign SELECTOR DOMAIN KEYFILE HEADERCANON/BODYCANON < message > signed

DNS: DKIM_TXT holds a JSON object mapping names to TXT records, the same
records the test's DNS stub serves to sluice.
"""
import json
import os
import sys

import dkim


def dnsfunc(name, timeout=5):
    records = json.loads(os.environ.get("DKIM_TXT", "{}"))
    name = name.decode() if isinstance(name, bytes) else name
    txt = records.get(name.rstrip("."))
    return txt.encode() if txt is not None else None


def main():
    msg = sys.stdin.buffer.read()
    if sys.argv[1] == "verify":
        d = dkim.DKIM(msg)
        n = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
        if n == 0:
            print("none")
            return 1
        for i in range(n):
            if not d.verify(idx=i, dnsfunc=dnsfunc):
                print("fail", i)
                return 1
        print("pass")
        return 0
    if sys.argv[1] == "sign":
        selector, domain, keyfile, canon = sys.argv[2:6]
        hc, bc = canon.split("/")
        key = open(keyfile, "rb").read()
        sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                        canonicalize=(hc.encode(), bc.encode()),
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        sys.stdout.buffer.write(sig + msg)
        return 0
    return 2


sys.exit(main())
