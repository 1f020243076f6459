package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckHost looks at the host for what a configuration that loads still
// needs from it, as check-config does before serve would find out:
//
//   - data_dir is a directory sluice can write (a file is created in it and
//     removed), or, when it does not exist yet, can be made: its nearest
//     existing ancestor is such a directory (serve creates the rest);
//   - each Maildir path's fixed base, the part before its first
//     placeholder other than {data_dir}, does not run through something
//     that is not a directory (mail would be accepted, then deferred
//     forever with "not a directory");
//   - the tls block's cert and key files can be read.
//
// It checks as the user it runs as; check-config run as root says nothing
// about the service user. It cannot check what only serving shows: ports
// already taken, a next hop that is down, DNS, a Maildir's free space.
// Each error names the attribute and the path.
func (c *Config) CheckHost() []error {
	var errs []error
	if c.DataDir != "" {
		if err := writableDir(c.DataDir); err != nil {
			errs = append(errs, fmt.Errorf("data_dir %q: %w", c.DataDir, err))
		}
	}
	for _, d := range c.Domains {
		if d.Deliver.Method != DeliverMaildir || d.Deliver.Path == "" {
			continue
		}
		base := maildirBase(d.Deliver.Path)
		if err := mayBeDir(base); err != nil {
			errs = append(errs, fmt.Errorf("domain %q: deliver \"maildir\" path %q: %w", d.Name, d.Deliver.Path, err))
		}
	}
	for _, f := range []struct{ attr, path string }{{"cert", c.TLS.CertFile}, {"key", c.TLS.KeyFile}} {
		if f.path == "" {
			continue
		}
		if fh, err := os.Open(f.path); err != nil {
			errs = append(errs, fmt.Errorf("tls %s: %w", f.attr, err))
		} else {
			_, err := fh.Read(make([]byte, 1))
			fh.Close()
			if err != nil {
				errs = append(errs, fmt.Errorf("tls %s %q: cannot read: %w", f.attr, f.path, err))
			}
		}
	}
	return errs
}

// maildirBase is the directory of a Maildir path template that every
// recipient's Maildir is under: up to the last separator before the first
// placeholder ({data_dir} is already replaced when loading).
func maildirBase(tmpl string) string {
	if i := strings.IndexByte(tmpl, '{'); i >= 0 {
		tmpl = tmpl[:i]
		if j := strings.LastIndexByte(tmpl, filepath.Separator); j >= 0 {
			return filepath.Clean(tmpl[:j+1])
		}
		return "."
	}
	return filepath.Clean(tmpl)
}

// nearestExisting returns dir's nearest ancestor that exists (dir itself
// if it does), and its FileInfo; or the error that stopped the walk, such
// as "not a directory" from a path that runs through a regular file.
func nearestExisting(dir string) (string, fs.FileInfo, error) {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil:
			return p, fi, nil
		case !errors.Is(err, fs.ErrNotExist):
			return p, nil, err
		case filepath.Dir(p) == p:
			return p, nil, err
		}
	}
}

// mayBeDir reports why dir cannot be (or become) a directory.
func mayBeDir(dir string) error {
	p, fi, err := nearestExisting(dir)
	switch {
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", p)
	}
	return nil
}

// writableDir reports why dir is not a directory this process can write
// files in, or cannot be made one.
func writableDir(dir string) error {
	if err := mayBeDir(dir); err != nil {
		return err
	}
	p, _, _ := nearestExisting(dir)
	f, err := os.CreateTemp(p, ".sluice-check-config-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}
