package smtpd

import "github.com/emersion/go-sasl"

// loginServer is the server side of the obsolete but ubiquitous AUTH LOGIN
// mechanism (draft-murchison-sasl-login), which go-sasl implements only as a
// client: the server asks for the user name, then the password.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func newLoginServer(check func(user, pass string) error) sasl.Server {
	return &loginServer{check: check}
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil {
			// Initial response (AUTH LOGIN <base64 user>).
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.user, string(response))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}
