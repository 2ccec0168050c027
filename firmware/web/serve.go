package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ListenAndServe serves h on addr until ctx ends, then shuts down within
// a few seconds. ready, if not nil, gets the bound address (useful with
// ":0"). Connections are capped and timed out (DefaultLimits): the
// server must not starve the recorder of file descriptors or memory
// whatever a LAN neighbour sends.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, ready func(addr string)) error {
	return listenAndServe(ctx, addr, h, DefaultLimits(), ready)
}

func listenAndServe(ctx context.Context, addr string, h http.Handler, lim Limits, ready func(addr string)) error {
	if files, err := fileLimit(); err == nil {
		lim = lim.capToFiles(files)
	}
	if s, ok := h.(*Server); ok {
		// A listen address given as a name is one of the box's names.
		s.guard.hosts.addName(addr)
	}
	cl := newConnLimiter(lim.MaxConns, lim.MaxConnsPerHost)
	srv := &http.Server{Handler: h,
		ReadHeaderTimeout: lim.ReadHeader, ReadTimeout: lim.Read, WriteTimeout: lim.Write, IdleTimeout: lim.Idle,
		MaxHeaderBytes: 16 << 10, ConnState: cl.connState,
		BaseContext: func(_ net.Listener) context.Context { return ctx }}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web: listen %s: %w", addr, err)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(&limitListener{Listener: ln, l: cl}) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	return nil
}
