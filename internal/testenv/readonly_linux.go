package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// ReadOnlyDir makes dir and the files in it read-only until the returned
// function makes them writable again. Root, which permissions do not
// stop, gets a read-only bind mount of dir on itself; anyone else gets
// the write permission taken off dir and its files.
func ReadOnlyDir(t testing.TB, dir string) (writable func()) {
	t.Helper()
	if os.Geteuid() == 0 {
		Mount(t, dir, dir, "", syscall.MS_BIND, "")
		remount(t, dir, syscall.MS_BIND|syscall.MS_RDONLY)
		return func() { remount(t, dir, syscall.MS_BIND) }
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	chmod(t, 0o400, files...)
	chmod(t, 0o500, dir)
	return func() {
		chmod(t, 0o700, dir)
		chmod(t, 0o600, files...)
	}
}

// Mount mounts source on target (created if missing) until the test
// ends; the unmount is detached, as the program under test may still hold
// files. It takes root.
func Mount(t testing.TB, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(source, target, fstype, flags, data); err != nil {
		t.Fatalf("mounting %s on %s: %v", source, target, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", target, err)
		}
	})
}

func remount(t testing.TB, target string, flags uintptr) {
	t.Helper()
	if err := syscall.Mount("", target, "", syscall.MS_REMOUNT|flags, ""); err != nil {
		t.Fatalf("remounting %s: %v", target, err)
	}
}

func chmod(t testing.TB, mode os.FileMode, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}
