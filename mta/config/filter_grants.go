package config

import (
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// filterFiles decodes the settings of the "files" and "socket" grants:
// files, the absolute paths a plugin may read, and socket_endpoint, the one
// stream socket it may call. Like http_endpoint, each needs its grant and
// each grant needs its setting.
func (d *decoder) filterFiles(a hcl.Attributes, f *Filter) {
	if fa := a["files"]; fa != nil {
		list, ranges, ok := d.strList(fa)
		for i, p := range list {
			switch {
			case !filepath.IsAbs(p) || filepath.Clean(p) != p:
				d.errorf(ranges[i], "Invalid path", "files: %q must be an absolute, clean path: the plugin names it exactly so.", p)
				ok = false
			case slices.Contains(list[:i], p):
				d.errorf(ranges[i], "Duplicate value", "files: %q is listed twice.", p)
				ok = false
			}
		}
		if ok {
			f.Files = list
		}
		if !contains(f.Grants, "files") {
			d.errorf(fa.Expr.Range(), "Files without grant", "files is set but grants does not include \"files\".")
		}
	} else if ga := a["grants"]; ga != nil && contains(f.Grants, "files") {
		d.errorf(ga.Expr.Range(), "Missing files", "The \"files\" grant needs files, the paths the filter may read.")
	}
	if sa := a["socket_endpoint"]; sa != nil {
		if network, addr, ok := d.address(sa, false); ok {
			if network == "unix" {
				addr = "unix:" + addr
			}
			f.SocketEndpoint = addr
		}
		if !contains(f.Grants, "socket") {
			d.errorf(sa.Expr.Range(), "Endpoint without grant", "socket_endpoint is set but grants does not include \"socket\".")
		}
	} else if ga := a["grants"]; ga != nil && contains(f.Grants, "socket") {
		d.errorf(ga.Expr.Range(), "Missing socket_endpoint", "The \"socket\" grant needs socket_endpoint, the one socket the filter may call.")
	}
}
