//go:build !linux

package linkwatch

import "os"

func open() (*os.File, error) { return nil, ErrUnsupported }

func (w *Watcher) read(chan<- Event) error { return ErrUnsupported }
