package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every bounded flag is checked before the model loads or the port opens.
func TestServeFlagBounds(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--max-concurrent", "0"}, "0 is out of range: want an integer from 1 to 1024"},
		{[]string{"--queue", "-1"}, "-1 is out of range: want an integer from 0 to 1048576"},
		{[]string{"--max-body", "100"}, "100 is out of range: want an integer from 1024 to 1073741824"},
		{[]string{"--max-rows", "0"}, `"--max-rows" flag: 0 is out of range`},
		{[]string{"--max-columns", "1"}, `"--max-columns" flag: 1 is out of range`},
		{[]string{"--max-cells", "0"}, `"--max-cells" flag: 0 is out of range`},
		{[]string{"--max-ensemble", "1000"}, "1000 is out of range: want an integer from 1 to 256"},
		{[]string{"--timeout", "0s"}, "0s is out of range: want a duration, in seconds, 0.01 to 86400"},
		{[]string{"--read-timeout", "48h"}, `"--read-timeout" flag: 48h is out of range`},
		{[]string{"--grace", "-1s"}, "-1s is out of range: want a duration, in seconds, 0 to 86400"},
		{[]string{"--device", "tpu"}, `unknown device "tpu"`},
		{[]string{"--model", "/nonexistent/model.safetensors"}, "nonexistent"},
		{[]string{"--addr", "127.0.0.1:http-alt-nope"}, "unknown port"},
	}
	for _, c := range cases {
		cmd := newServeCmd()
		cmd.SetArgs(c.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("kiln serve %s: error %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// lockedBuffer is a bytes.Buffer that the server's logger and the test can share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records written so far.
func (b *lockedBuffer) records(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "log line %q", sc.Text())
		out = append(out, rec)
	}
	return out
}

// kiln serve listens, answers a prediction, logs it as JSON and exits cleanly when its
// context ends (as on SIGINT or SIGTERM).
func TestServeRunsAndStops(t *testing.T) {
	model := tinyCheckpoint(t)
	cmd := newServeCmd()
	var logs lockedBuffer
	cmd.SetErr(&logs)
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--model", model, "--max-concurrent", "2", "--timeout", "30s"})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		require.False(t, time.Now().After(deadline), "no serving record in %q", logs.records(t))
		for _, rec := range logs.records(t) {
			if rec["msg"] == "serving" {
				addr = rec["addr"].(string)
			}
		}
	}
	resp, err := http.Get("http://" + addr + "/v1/model")
	require.NoError(t, err)
	var info struct {
		Model  string `json:"model"`
		Limits struct {
			MaxConcurrent int `json:"max_concurrent"`
		} `json:"limits"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	resp.Body.Close()
	require.Equal(t, model, info.Model)
	require.Equal(t, 2, info.Limits.MaxConcurrent)

	body := `{"train": {"columns": ["a", "y"], "rows": [[1, "p"], [2, "q"], [1.2, "p"], [2.2, "q"]]}, "test": {"rows": [[1.1], [2.1]]}}`
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/predict", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "test-42")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(out))
	require.Equal(t, "test-42", resp.Header.Get("X-Request-Id"))

	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("kiln serve did not stop")
	}
	var predict, stopped map[string]any
	for _, rec := range logs.records(t) {
		switch {
		case rec["msg"] == "request" && rec["path"] == "/v1/predict":
			predict = rec
		case rec["msg"] == "stopped":
			stopped = rec
		}
	}
	require.NotNil(t, stopped, "no stopped record")
	require.NotNil(t, predict, "no request record for /v1/predict")
	require.Equal(t, "test-42", predict["id"])
	require.Equal(t, "POST", predict["method"])
	require.EqualValues(t, 200, predict["status"])
	require.EqualValues(t, 4, predict["train_rows"])
	require.EqualValues(t, 2, predict["test_rows"])
	for _, k := range []string{"bytes", "duration_ms", "queue_ms"} {
		require.Contains(t, predict, k)
	}
}
