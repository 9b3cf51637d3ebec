package ledger

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// failFS sits between Pebble and the filesystem and keeps Pebble's fatal
// storage errors from reaching Pebble.
//
// Why: Pebble treats a failed write, sync, create or rename of its write-ahead
// log, MANIFEST, markers and directory as fatal, and not in a way an embedder
// can catch. A MANIFEST failure goes to Logger.Fatalf on a background flush or
// compaction goroutine (versionSet.UpdateVersionLocked), where a panic cannot
// be recovered; a WAL failure while a memtable is rotated makes
// DB.rotateWAL panic with DB.mu released, and the deferred unlock of its
// caller is a fatal runtime error ("sync: unlock of unlocked mutex") that no
// recover stops. Both end the process.
//
// What it does instead: the first failure of a mutating operation on any file
// but an sstable or blob file fails the ledger (ErrFailed, before Pebble sees
// the operation return) and freezes the directory: from then on every write,
// sync, create, rename, link and removal of those files, and every removal of
// any file, is a no-op that reports success. Pebble carries on in memory
// (reads and Close work) while the files on disk stay as they were at the
// failure, so a reopen recovers exactly what reached the disk:
//
//   - the WAL: the failed write never lands and nothing lands after it (a
//     later record written after a lost one could otherwise be replayed
//     without it, a gap); WAL replay stops where the data stops.
//   - the MANIFEST: its last edit may or may not have landed, and both are
//     consistent because no file is removed after the failure: the tables a
//     lost edit would have deleted and the logs a lost flush made obsolete
//     are still there; sstables written afterwards are unreferenced on disk
//     and Pebble deletes them at the next open.
//
// Acknowledgement: the syncs Pebble sees succeed after the failure are not
// real, so no write is acknowledged after one: the failure is recorded before
// the operation returns to Pebble, which happens before Pebble reports the
// sync to any waiter, and every write path checks the failure after its sync
// (see Ledger.afterSync). Any freeze (Logger.Fatalf, a recovered Pebble panic,
// any ErrFailed) also freezes the directory, so a horked Pebble writes
// nothing more.
//
// Not hidden: errors on sstable and blob files (a failed flush or compaction
// is an ordinary background error in Pebble; it retries), reads of any file,
// and Lock/List/Stat/MkdirAll.
type failFS struct {
	vfs.FS
	frozen atomic.Bool
	onFail func(error)    // fail-stops the ledger; called before freezing
	onSync func(wal bool) // counts a successful sync (nil: none); wal for a write-ahead log file
}

func newFailFS(inner vfs.FS, onFail func(error)) *failFS {
	return &failFS{FS: inner, onFail: onFail}
}

// isData reports whether name is a file whose errors Pebble handles as
// ordinary errors (sstables and blob files: flush and compaction outputs).
func isData(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// fail records a hidden error and freezes the directory.
func (f *failFS) fail(op, name string, err error) {
	f.onFail(fmt.Errorf("%s %s: %w", op, name, err))
	f.freeze()
}

func (f *failFS) freeze() { f.frozen.Store(true) }

// synced reports a successful sync of name to onSync.
func (f *failFS) synced(name string) {
	if f.onSync != nil {
		f.onSync(strings.HasSuffix(name, ".log"))
	}
}

func (f *failFS) Unwrap() vfs.FS { return f.FS }

func (f *failFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if isData(name) {
		return f.FS.Create(name, cat)
	}
	if f.frozen.Load() {
		return &discardFile{name: name}, nil
	}
	file, err := f.FS.Create(name, cat)
	if err != nil {
		f.fail("create", name, err)
		return &discardFile{name: name}, nil
	}
	return &failFile{File: file, fs: f, name: name}, nil
}

func (f *failFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	if isData(name) {
		return f.FS.OpenReadWrite(name, cat, opts...)
	}
	if f.frozen.Load() {
		return &discardFile{name: name}, nil
	}
	file, err := f.FS.OpenReadWrite(name, cat, opts...)
	if err != nil {
		f.fail("open", name, err)
		return &discardFile{name: name}, nil
	}
	return &failFile{File: file, fs: f, name: name}, nil
}

func (f *failFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if f.frozen.Load() {
		return &discardFile{name: newname}, nil
	}
	file, err := f.FS.ReuseForWrite(oldname, newname, cat)
	if err != nil {
		f.fail("reuse", newname, err)
		return &discardFile{name: newname}, nil
	}
	return &failFile{File: file, fs: f, name: newname}, nil
}

func (f *failFS) OpenDir(name string) (vfs.File, error) {
	d, err := f.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &failFile{File: d, fs: f, name: name}, nil
}

func (f *failFS) Remove(name string) error {
	if f.frozen.Load() {
		return nil
	}
	err := f.FS.Remove(name)
	if err != nil && !isData(name) && !os.IsNotExist(err) {
		f.fail("remove", name, err)
		return nil
	}
	return err
}

func (f *failFS) RemoveAll(name string) error {
	if f.frozen.Load() {
		return nil
	}
	return f.FS.RemoveAll(name)
}

func (f *failFS) Rename(oldname, newname string) error {
	if f.frozen.Load() {
		return nil
	}
	if err := f.FS.Rename(oldname, newname); err != nil {
		if isData(newname) {
			return err
		}
		f.fail("rename", newname, err)
	}
	return nil
}

func (f *failFS) Link(oldname, newname string) error {
	if f.frozen.Load() {
		return nil
	}
	if err := f.FS.Link(oldname, newname); err != nil {
		if isData(newname) {
			return err
		}
		f.fail("link", newname, err)
	}
	return nil
}

// failFile is a WAL, MANIFEST, marker, OPTIONS or directory file: its write
// errors fail the ledger and freeze the directory instead of reaching Pebble.
type failFile struct {
	vfs.File
	fs   *failFS
	name string
}

func (f *failFile) Write(p []byte) (int, error) {
	if f.fs.frozen.Load() {
		return len(p), nil
	}
	if _, err := f.File.Write(p); err != nil {
		f.fs.fail("write", f.name, err)
	}
	return len(p), nil
}

func (f *failFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.frozen.Load() {
		return len(p), nil
	}
	if _, err := f.File.WriteAt(p, off); err != nil {
		f.fs.fail("write", f.name, err)
	}
	return len(p), nil
}

func (f *failFile) Preallocate(off, n int64) error {
	if f.fs.frozen.Load() {
		return nil
	}
	if err := f.File.Preallocate(off, n); err != nil {
		f.fs.fail("preallocate", f.name, err)
	}
	return nil
}

func (f *failFile) Sync() error {
	if f.fs.frozen.Load() {
		return nil
	}
	if err := f.File.Sync(); err != nil {
		f.fs.fail("sync", f.name, err)
		return nil
	}
	f.fs.synced(f.name)
	return nil
}

func (f *failFile) SyncData() error {
	if f.fs.frozen.Load() {
		return nil
	}
	if err := f.File.SyncData(); err != nil {
		f.fs.fail("sync", f.name, err)
		return nil
	}
	f.fs.synced(f.name)
	return nil
}

func (f *failFile) SyncTo(n int64) (bool, error) {
	if f.fs.frozen.Load() {
		return true, nil
	}
	full, err := f.File.SyncTo(n)
	if err != nil {
		f.fs.fail("sync", f.name, err)
		return true, nil
	}
	return full, nil
}

func (f *failFile) Close() error {
	if err := f.File.Close(); err != nil && !f.fs.frozen.Load() {
		f.fs.fail("close", f.name, err)
	}
	return nil
}

// discardFile stands in for a file created after the freeze: writes and syncs
// succeed and go nowhere. Pebble never reads back the files it gets one for
// (WAL, MANIFEST, markers, OPTIONS) while it is open.
type discardFile struct {
	name string
	size atomic.Int64
}

func (d *discardFile) Close() error                      { return nil }
func (d *discardFile) Read([]byte) (int, error)          { return 0, io.EOF }
func (d *discardFile) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }
func (d *discardFile) Write(p []byte) (int, error) {
	d.size.Add(int64(len(p)))
	return len(p), nil
}
func (d *discardFile) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > d.size.Load() {
		d.size.Store(end)
	}
	return len(p), nil
}
func (d *discardFile) Preallocate(int64, int64) error { return nil }
func (d *discardFile) Stat() (vfs.FileInfo, error)    { return discardInfo{d}, nil }
func (d *discardFile) Sync() error                    { return nil }
func (d *discardFile) SyncTo(int64) (bool, error)     { return true, nil }
func (d *discardFile) SyncData() error                { return nil }
func (d *discardFile) Prefetch(int64, int64) error    { return nil }
func (d *discardFile) Fd() uintptr                    { return vfs.InvalidFd }

type discardInfo struct{ d *discardFile }

func (i discardInfo) Name() string           { return i.d.name }
func (i discardInfo) Size() int64            { return i.d.size.Load() }
func (i discardInfo) Mode() fs.FileMode      { return 0o644 }
func (i discardInfo) ModTime() time.Time     { return time.Time{} }
func (i discardInfo) IsDir() bool            { return false }
func (i discardInfo) Sys() any               { return nil }
func (i discardInfo) DeviceID() vfs.DeviceID { return vfs.DeviceID{} }
