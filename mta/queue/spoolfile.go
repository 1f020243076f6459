package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"syscall"
)

// The spool file format. A message is committed as one file, ID.msg:
//
//	data (env.Size bytes) | envelope (JSON, n bytes) | trailer (24 bytes)
//
// The trailer is the data length (8 bytes), the envelope length (4), the
// CRC-32C of data and envelope together (4), all big-endian, and the
// magic "sluice-1" (8). A commit is one write of envelope and trailer
// after the data, one fsync of the file and the shared directory fsync
// (commit.go): one file created, no rename, one fsync per message plus its
// share of a directory fsync.
//
// The envelope in the trailer is the message's state at acceptance. When
// the state must change (a deferred attempt, hold, release, a delay
// warning, an administrator's change) the whole envelope is written to
// ID.env as before (temporary file, fsync, rename, directory fsync), and
// from then on ID.env is authoritative; the trailer is never rewritten.
// Spools written by earlier versions (ID.msg holding only the data, ID.env
// beside it) are read the same way: whenever ID.env exists it is the
// envelope, and env.Size says where the data ends, so readers of the data
// (delivery, DSN, header display) never look past the first env.Size bytes.
//
// A message exists exactly when its ID.msg has a valid trailer or an ID.env
// sits beside it. Recovery (Queue.recover) therefore removes an ID.msg that
// has neither (never acknowledged: the crash came before the fsyncs of its
// commit completed, and the CRC over every byte tells a torn file from a
// complete one), and an ID.env without ID.msg (the remains of a finished
// message: removal unlinks ID.msg first, see removeFiles).

const (
	trailerLen   = 24
	trailerMagic = "sluice-1"
	// maxEnvelope bounds the envelope read back from a trailer.
	maxEnvelope = 16 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// appendTrailer appends the envelope and the trailer for dataLen bytes of
// data whose running CRC-32C is crc.
func appendTrailer(dst []byte, dataLen int64, crc uint32, env []byte) []byte {
	dst = append(dst, env...)
	crc = crc32.Update(crc, crcTable, env)
	dst = binary.BigEndian.AppendUint64(dst, uint64(dataLen))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(env)))
	dst = binary.BigEndian.AppendUint32(dst, crc)
	return append(dst, trailerMagic...)
}

var errNoTrailer = errors.New("no valid envelope trailer")

// readTrailer returns the envelope committed in the trailer of the spool
// file at path for message id, after checking the CRC over every byte of
// the file: a file cut short or torn by a crash during its commit gives
// errNoTrailer, and so does a recycled file still holding the trailer of
// its previous message (recycle.go).
func readTrailer(path, id string) (*Envelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size < trailerLen {
		return nil, errNoTrailer
	}
	var t [trailerLen]byte
	if _, err := f.ReadAt(t[:], size-trailerLen); err != nil {
		return nil, err
	}
	if string(t[16:]) != trailerMagic {
		return nil, errNoTrailer
	}
	dataLen := int64(binary.BigEndian.Uint64(t[0:8]))
	envLen := int64(binary.BigEndian.Uint32(t[8:12]))
	want := binary.BigEndian.Uint32(t[12:16])
	if envLen > maxEnvelope || dataLen < 0 || dataLen+envLen+trailerLen != size {
		return nil, errNoTrailer
	}
	h := crc32.New(crcTable)
	buf := spoolBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(h, io.NewSectionReader(f, 0, dataLen), *buf)
	spoolBufs.Put(buf)
	if err != nil {
		return nil, err
	}
	b := make([]byte, envLen)
	if _, err := f.ReadAt(b, dataLen); err != nil {
		return nil, err
	}
	h.Write(b)
	if h.Sum32() != want {
		return nil, errNoTrailer
	}
	env, err := decodeEnvelope(b)
	if err != nil {
		return nil, fmt.Errorf("envelope trailer: %w", err)
	}
	if env.ID != id {
		return nil, errNoTrailer // the previous message of a recycled file
	}
	if env.Size != dataLen {
		return nil, fmt.Errorf("envelope trailer: size %d, data %d bytes", env.Size, dataLen)
	}
	return env, nil
}

// readEnvelope returns the current envelope of message id in dir: ID.env
// when it exists, otherwise the trailer of ID.msg. A message with neither
// gives an error satisfying errors.Is(err, os.ErrNotExist).
func readEnvelope(envPath, msgPath, id string) (*Envelope, error) {
	b, err := os.ReadFile(envPath)
	if err == nil {
		return decodeEnvelope(b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	env, err := readTrailer(msgPath, id)
	if errors.Is(err, errNoTrailer) {
		return nil, fmt.Errorf("%w (uncommitted)", os.ErrNotExist)
	}
	return env, err
}

// dataReader is a message's data: the first size bytes of its spool file.
type dataReader struct {
	io.Reader
	f *os.File
}

func (d *dataReader) Close() error { return d.f.Close() }

// OpenData opens the data of a spooled message: the first size (its
// envelope's Size) bytes of the spool file at path, without any trailer.
func OpenData(path string, size int64) (io.ReadCloser, error) {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return &dataReader{io.LimitReader(f, size), f}, nil
}

// openFile is os.OpenFile for a regular file or directory, without the
// runtime's attempt to register the descriptor with the network poller
// (four fcntl calls and a failing epoll_ctl per open, on every spool file).
func openFile(path string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, flag|syscall.O_CLOEXEC, perm)
		if err == nil {
			return os.NewFile(uintptr(fd), path), nil
		}
		if err != syscall.EINTR {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
}
