// Package tmpfs gives tests a small filesystem of their own to fill up or
// make read-only: the faults "log storage full" and "read-only" need one,
// and the machine's disk must not be the thing filled.
package tmpfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size (such as "20m") on a fresh directory,
// unmounted at cleanup, or skips t when it cannot (it needs root or
// CAP_SYS_ADMIN).
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		t.Skipf("skipping: can't mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("couldn't unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Remount changes the options of the tmpfs at dir ("size=64m", or
// read-only with syscall.MS_RDONLY).
func Remount(dir string, flags uintptr, data string) error {
	return syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|flags, data)
}

// Fill writes a file in dir until the filesystem is full, down to its last
// pages, and returns the file's path (remove it to free the space).
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	return path
}
