// Package atomicfile writes output files so that a reader never sees a torn file and an
// interrupted write never clobbers the previous version: the data goes to a temporary file in
// the target's directory, is synced, renamed over the target, and the directory is synced.
//
// Temporary files are named ".<base>.tmp-<random>" beside the target. A process killed between
// creating and renaming one leaves it behind; CleanStale removes such leftovers for a target
// before a new run writes it.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Mode is the permission of every file written here: readable by everyone, as an ordinary
// output file is. It is set explicitly (temporary files are created 0600), so the process's
// umask does not narrow it.
const Mode os.FileMode = 0o644

// tmpPattern is the os.CreateTemp pattern of a temporary file for target.
func tmpPattern(target string) string { return "." + filepath.Base(target) + ".tmp-*" }

// File is an output being written. Write to it, then Commit to publish it under its target
// name, or Abort to drop it. Abort after Commit is a no-op, so `defer f.Abort()` is the
// usual pattern.
type File struct {
	target string
	tmp    *os.File
	done   bool
}

// Create opens a temporary file beside path for writing.
func Create(path string) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), tmpPattern(path))
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(Mode); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &File{target: path, tmp: tmp}, nil
}

// Write appends p to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("writing %s: file already committed or aborted", f.target)
	}
	return f.tmp.Write(p)
}

// Commit syncs the temporary file, renames it over the target and syncs the directory.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("writing %s: file already committed or aborted", f.target)
	}
	f.done = true
	name := f.tmp.Name()
	if err := f.tmp.Sync(); err != nil {
		f.tmp.Close()
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", f.target, err)
	}
	if err := f.tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", f.target, err)
	}
	if err := os.Rename(name, f.target); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", f.target, err)
	}
	syncDir(filepath.Dir(f.target))
	return nil
}

// Abort closes and removes the temporary file. It is a no-op after Commit or Abort.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// Write writes data to path atomically with mode Mode.
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc streams an output to path atomically: write is called with the temporary file,
// and the target is replaced only if write returns nil.
func WriteFunc(path string, write func(w io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	return f.Commit()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// CheckWritable reports, before any work is done, whether an output can later be written to
// path: its directory must exist and accept new files, and path must not be a directory. It
// creates and removes one temporary file to find out.
func CheckWritable(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("output %s is a directory", path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("output %s: directory %s: %w", path, dir, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("output %s: %s is not a directory", path, dir)
	}
	tmp, err := os.CreateTemp(dir, tmpPattern(path))
	if err != nil {
		return fmt.Errorf("output %s: directory %s is not writable: %w", path, dir, unwrapPath(err))
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// StaleAge is how old a leftover temporary file must be before CleanStale removes it: a
// younger one may belong to a writer that is still running.
const StaleAge = time.Minute

// CleanStale removes temporary files that an interrupted atomic write of path left behind
// (older than StaleAge) and returns their names.
func CleanStale(path string) ([]string, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("cleaning temporary files of %s: %w", path, err)
	}
	prefix := "." + filepath.Base(path) + ".tmp-"
	var removed []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < StaleAge {
			continue
		}
		full := filepath.Join(dir, e.Name())
		if err := os.Remove(full); err == nil {
			removed = append(removed, full)
		}
	}
	return removed, nil
}
