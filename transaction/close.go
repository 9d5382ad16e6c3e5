package transaction

import (
	"errors"
	"time"
)

// committer commits the running transaction every CommitInterval.
type committer struct {
	stop chan struct{}
	done chan struct{}
}

func (fs *FS) startCommitter() {
	if fs.opts.ReadOnly || fs.opts.CommitInterval <= 0 {
		return
	}
	c := &committer{stop: make(chan struct{}), done: make(chan struct{})}
	fs.ticker = c
	go func() {
		defer close(c.done)
		tick := time.NewTicker(fs.opts.CommitInterval)
		defer tick.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tick.C:
				if err := fs.Commit(); err != nil {
					return // aborted: the error sticks for every caller
				}
			}
		}
	}()
}

func (fs *FS) stopCommitter() {
	if c := fs.ticker; c != nil {
		close(c.stop)
		<-c.done
		fs.ticker = nil
	}
}

// Close commits the running transaction (unless read-only or aborted),
// stops the commit timer, releases the trees and the cache and, for
// OpenFile, closes the device. The filesystem cannot be used afterwards.
// It returns the commit's error, or the abort's cause if an abort left
// changes uncommitted.
func (fs *FS) Close() error {
	fs.stopCommitter()
	err := fs.Commit()
	if fs.opts.ReadOnly {
		err = nil
	}
	fs.commitLock.Lock()
	fs.mu.Lock()
	already := fs.mu.closed
	fs.mu.closed = true
	fs.mu.Unlock()
	fs.commitLock.Unlock()
	if already {
		return ErrClosed
	}
	fs.closeTrees()
	err = errors.Join(err, fs.cache.Close())
	if fs.ownsDev {
		err = errors.Join(err, fs.dev.Close())
	}
	return err
}
