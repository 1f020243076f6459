package authmail

import "github.com/sluice-mail/sluice/sdk"

// Config is a filter's parsed configuration, read from the host and parsed
// on first use: it never changes during an instance's life, and parsing
// (RSA keys above all) is too costly to repeat per message.
type Config[T any] struct {
	v   *T
	err error
}

// Load returns the parsed configuration, or the error parse gave, which
// stays; when the host cannot give the configuration, the next call asks
// again. A configuration that fails to parse is never kept.
func (c *Config[T]) Load(parse func(raw []byte) (*T, error)) (*T, error) {
	if c.v == nil && c.err == nil {
		raw, err := sdk.Config()
		if err != nil {
			return nil, err
		}
		c.v, c.err = parse(raw)
		if c.err != nil {
			c.v = nil
		}
	}
	return c.v, c.err
}
