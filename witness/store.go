package witness

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// DirStore is a [Store] in a directory: one file per log, named by the
// SHA-256 of its origin, holding the latest cosigned checkpoint verbatim.
// It holds an exclusive lock on the directory while open, so two witness
// processes cannot share (and race on) one state.
type DirStore struct {
	root *os.Root
	lock *os.File
}

const maxStoredCheckpoint = maxBody

// OpenDirStore opens (creating it if needed) the state directory dir.
func OpenDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create witness state directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("couldn't open witness state directory: %w", err)
	}
	lock, err := root.OpenFile("lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("couldn't open witness state lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		root.Close()
		return nil, fmt.Errorf("couldn't lock witness state directory %s (is another witness using it?): %w", dir, err)
	}
	return &DirStore{root: root, lock: lock}, nil
}

// Close releases the directory.
func (s *DirStore) Close() error {
	err := s.lock.Close() // releases the flock
	return errors.Join(err, s.root.Close())
}

func fileName(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return "log-" + hex.EncodeToString(h[:]) + ".checkpoint"
}

// Get returns the stored checkpoint for origin, or nil.
func (s *DirStore) Get(origin string) ([]byte, error) {
	f, err := s.root.Open(fileName(origin))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStoredCheckpoint+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStoredCheckpoint || len(b) == 0 {
		return nil, fmt.Errorf("%s is empty or larger than %d bytes", fileName(origin), maxStoredCheckpoint)
	}
	return b, nil
}

// Put replaces the checkpoint for origin durably: it writes a temporary
// file, syncs it, renames it over the old one and syncs the directory.
func (s *DirStore) Put(origin string, checkpoint []byte) error {
	name := fileName(origin)
	tmp := name + ".tmp"
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(checkpoint)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, name)
	}
	if err != nil {
		s.root.Remove(tmp)
		return err
	}
	d, err := s.root.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
