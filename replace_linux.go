// replace_linux.go puts a written temp file in place of a record.

package launcher

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// replaceFile puts tmp in place of path, atomically, as a rename does:
// readers see the old file or the new, never neither. Where path exists,
// it exchanges the two (renameat2 RENAME_EXCHANGE) and unlinks tmp, which
// then holds the old content: a rename over a file makes ext4 write the
// new file's data out at once (auto_da_alloc, against the zero-length
// files of a crash: 60-140 µs here, three times per start), an exchange
// and an unlink do not (2 and 3 µs). Where path does not exist, or the
// file system cannot exchange, it renames.
func replaceFile(tmp, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
	if err == nil {
		err = unix.Unlink(tmp) // the old content; a leftover is a dot file, ignored
		if !errors.Is(err, unix.EISDIR) {
			return nil
		}
		// A directory was at path, which a rename refuses: put it back.
		unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: unix.EISDIR}
	}
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) ||
		errors.Is(err, unix.EOPNOTSUPP) {
		err = unix.Rename(tmp, path)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}
