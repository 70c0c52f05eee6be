package serve

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"
)

// requestInfo collects what a request's log record reports beyond what the response shows:
// its id, how long it waited for a slot, the size of its tables and its error. The handler
// that serves the request fills it in; one goroutine writes it.
type requestInfo struct {
	id                            string
	queued                        bool
	queueWait                     time.Duration
	trainRows, testRows, features int
	err                           string
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(infoKey{}).(*requestInfo)
	if info == nil {
		return &requestInfo{} // a handler used outside ServeHTTP: nothing to log into
	}
	return info
}

// requestID returns the client's id when it is a short plain token (so that it can be logged
// and echoed safely), otherwise a fresh random one.
func requestID(client string) string {
	if len(client) > 0 && len(client) <= 64 {
		ok := true
		for _, c := range client {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				ok = false
				break
			}
		}
		if ok {
			return client
		}
	}
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder remembers the status and the body size written through it.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
