package serve

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/examples/wine"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// testModel is the embedded model, loaded once for every test of the package.
var testModel = sync.OnceValues(func() (*tabpfn.Model, error) {
	return tabpfn.DefaultModel(device.MustGet("cpu"))
})

func model(t testing.TB) *tabpfn.Model {
	t.Helper()
	m, err := testModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newHandler returns a handler on the embedded model with DefaultConfig changed by edit.
func newHandler(t testing.TB, edit func(*Config)) *Handler {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Model = model(t)
	if edit != nil {
		edit(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// wineCase is a prediction problem on the embedded wine table: rows of a stratified half to
// fit, test rows from the other half, as raw CSV cells (for the requests) and as tables (for the
// reference run).
type wineCase struct {
	header            []string   // feature columns, then "target"
	trainRec, testRec [][]string // CSV cells; the test records keep their label last
	train, test       *data.Table
}

func newWineCase(t testing.TB, trainRows, testRows int) *wineCase {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(wine.CSV)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := data.ReadCSV(bytes.NewReader(wine.CSV), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	trainIdx, testIdx, err := data.StratifiedSplit(tab.Y, tab.NumClasses(), 0.5, 0)
	if err != nil {
		t.Fatal(err)
	}
	trainIdx, testIdx = spread(trainIdx, trainRows), spread(testIdx, testRows)
	c := &wineCase{header: recs[0], train: tab.Subset(trainIdx), test: tab.Subset(testIdx)}
	for _, i := range trainIdx {
		c.trainRec = append(c.trainRec, recs[i+1])
	}
	for _, i := range testIdx {
		c.testRec = append(c.testRec, recs[i+1])
	}
	return c
}

// spread returns n indices evenly spaced over idx (all of them when n ≥ len(idx)); the wine
// rows are sorted by class, so every class keeps its share.
func spread(idx []int, n int) []int {
	if n >= len(idx) {
		return idx
	}
	out := make([]int, n)
	for i := range out {
		out[i] = idx[i*len(idx)/n]
	}
	return out
}

// jsonBody is the JSON request for the case: numbers as written in the CSV file, the class
// as a string, the test rows without their label.
func (c *wineCase) jsonBody(t testing.TB, extra map[string]any) []byte {
	t.Helper()
	rows := func(recs [][]string, withLabel bool) [][]json.RawMessage {
		out := make([][]json.RawMessage, len(recs))
		for i, rec := range recs {
			n := len(rec) - 1
			for _, cell := range rec[:n] {
				out[i] = append(out[i], json.RawMessage(cell))
			}
			if withLabel {
				label, _ := json.Marshal(rec[n])
				out[i] = append(out[i], label)
			}
		}
		return out
	}
	req := map[string]any{
		"target": "target",
		"train":  map[string]any{"columns": c.header, "rows": rows(c.trainRec, true)},
		"test":   map[string]any{"columns": c.header[:len(c.header)-1], "rows": rows(c.testRec, false)},
	}
	for k, v := range extra {
		req[k] = v
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// csvFile writes records under a header as CSV, dropping the last column when label is false.
func csvFile(header []string, recs [][]string, label bool) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	n := len(header)
	if !label {
		n--
	}
	w.Write(header[:n])
	for _, r := range recs {
		w.Write(r[:n])
	}
	w.Flush()
	return buf.Bytes()
}

// multipartBody builds a multipart/form-data body from parts (a name ending in ".csv" is
// sent as a file of that name without the suffix) and returns it with its content type.
func multipartBody(t testing.TB, parts [][2]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if name, ok := strings.CutSuffix(p[0], ".csv"); ok {
			w, err = mw.CreateFormFile(name, p[0])
		} else {
			w, err = mw.CreateFormField(p[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p[1])
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// reference is the lone run: a classifier fitted directly on the case's tables.
func (c *wineCase) reference(t testing.TB, ensemble, pairwise int, seed uint64) data.Matrix {
	t.Helper()
	clf, err := tabpfn.NewClassifier(tabpfn.WithModel(model(t)), tabpfn.WithEnsemble(ensemble),
		tabpfn.WithPairwise(pairwise), tabpfn.WithSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	clf.SetColumns(c.train.Columns)
	if err := clf.Fit(c.train.X, c.train.Y, c.train.NumClasses()); err != nil {
		t.Fatal(err)
	}
	p, err := clf.PredictProba(c.test.X)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// do sends a request to h and returns the status and body.
func do(t testing.TB, h http.Handler, method, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, "/v1/predict", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

// checkAnswer checks a 200 answer's probabilities against the reference, exactly: the
// server's path from cells to probabilities is the command line's, and JSON carries a
// float64 without loss.
func checkAnswer(t testing.TB, status int, body []byte, c *wineCase, want data.Matrix) predictResponse {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var resp predictResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	if !slices.Equal(resp.Classes, c.train.Classes) || resp.Target != "target" || resp.Task != TaskClassification {
		t.Fatalf("classes %v target %q task %q", resp.Classes, resp.Target, resp.Task)
	}
	if len(resp.Probabilities) != want.Rows || len(resp.Predictions) != want.Rows {
		t.Fatalf("%d probability rows and %d predictions for %d test rows", len(resp.Probabilities), len(resp.Predictions), want.Rows)
	}
	for i, row := range resp.Probabilities {
		if !slices.Equal(row, want.Row(i)) {
			t.Fatalf("row %d: probabilities %v, the lone classifier gives %v", i, row, want.Row(i))
		}
		best := slices.Index(row, slices.Max(row))
		if resp.Predictions[i] != c.train.Classes[best] {
			t.Fatalf("row %d: predicted %q, the most probable class is %q", i, resp.Predictions[i], c.train.Classes[best])
		}
	}
	if resp.Warnings == nil {
		t.Fatal(`"warnings" is null, want a list`)
	}
	return resp
}

// The probabilities served for JSON and for multipart requests are those of a classifier
// fitted directly on the same data with the same options.
func TestPredictMatchesClassifier(t *testing.T) {
	c := newWineCase(t, 89, 30)
	const ensemble, pairwise, seed = 2, 1, 7
	want := c.reference(t, ensemble, pairwise, seed)
	h := newHandler(t, nil)

	t.Run("json", func(t *testing.T) {
		body := c.jsonBody(t, map[string]any{"ensemble": ensemble, "pairwise": pairwise, "seed": seed, "task": "classification"})
		status, _, out := do(t, h, http.MethodPost, "application/json; charset=utf-8", body)
		resp := checkAnswer(t, status, out, c, want)
		if resp.Ensemble != ensemble || resp.Pairs != 3 || resp.Seed != seed {
			t.Fatalf("ensemble %d pairs %d seed %d", resp.Ensemble, resp.Pairs, resp.Seed)
		}
	})
	t.Run("multipart", func(t *testing.T) {
		body, ct := multipartBody(t, [][2]string{
			{"train.csv", string(csvFile(c.header, c.trainRec, true))},
			{"test.csv", string(csvFile(c.header, c.testRec, false))},
			{"target", "target"}, {"ensemble", fmt.Sprint(ensemble)}, {"pairwise", fmt.Sprint(pairwise)}, {"seed", fmt.Sprint(seed)},
		})
		status, _, out := do(t, h, http.MethodPost, ct, body)
		checkAnswer(t, status, out, c, want)
	})
	t.Run("test columns default to the training features", func(t *testing.T) {
		var req map[string]any
		if err := json.Unmarshal(c.jsonBody(t, map[string]any{"ensemble": ensemble, "pairwise": pairwise, "seed": seed}), &req); err != nil {
			t.Fatal(err)
		}
		delete(req["test"].(map[string]any), "columns")
		body, _ := json.Marshal(req)
		status, _, out := do(t, h, http.MethodPost, "application/json", body)
		checkAnswer(t, status, out, c, want)
	})
}

// Mixed cells: strings become categories, null and "NA" are missing, booleans are
// categories, as in a CSV file.
func TestPredictMixedCells(t *testing.T) {
	h := newHandler(t, nil)
	body := `{"train": {"columns": ["size", "colour", "ok", "y"],
	  "rows": [[1, "red", true, "a"], [2.5, "blue", false, "b"], [null, "red", true, "a"], [3, null, false, "b"], [1.2, "NA", true, "a"], [2.8, "blue", false, "b"]]},
	 "test": {"rows": [[1.1, "red", true], [2.9, "green", null]]}, "ensemble": 1}`
	status, _, out := do(t, h, http.MethodPost, "application/json", []byte(body))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, out)
	}
	var resp predictResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.Predictions, []string{"a", "b"}) || resp.Target != "y" {
		t.Fatalf("predictions %v target %q: %s", resp.Predictions, resp.Target, out)
	}
}

// Every bad request gets its documented status and a JSON error that names the problem.
func TestPredictErrors(t *testing.T) {
	c := newWineCase(t, 89, 5)
	h := newHandler(t, func(cfg *Config) {
		cfg.MaxBody = 64 << 10
		cfg.MaxRows = 100
		cfg.MaxColumns = 20
		cfg.MaxCells = 1500
		cfg.MaxEnsemble = 8
	})
	good := c.jsonBody(t, nil)
	trainCSV := string(csvFile(c.header, c.trainRec, true))
	testCSV := string(csvFile(c.header, c.testRec, false))
	mp := func(parts ...[2]string) ([]byte, string) { return multipartBody(t, parts) }
	big := bytes.Repeat([]byte(" "), 70<<10)
	withExtra := func(extra map[string]any) []byte { return c.jsonBody(t, extra) }

	type tc struct {
		name        string
		method, ct  string
		body        []byte
		chunked     bool // no Content-Length: the limit is found while reading
		status      int
		errContains string
	}
	cases := []tc{
		{name: "oversized body", ct: "application/json", body: append(slices.Clone(good), big...), status: 413, errContains: "exceeds the limit of 65536 bytes"},
		{name: "oversized body without length", ct: "application/json", body: append([]byte(`{"train": "`), big...), chunked: true, status: 413, errContains: "exceeds the limit"},
		{name: "oversized multipart without length", chunked: true, status: 413, errContains: "exceeds the limit"},
		{name: "too many rows", ct: "application/json", body: func() []byte {
			big := *c
			big.trainRec = append(slices.Clone(c.trainRec), c.trainRec[:20]...)
			return big.jsonBody(t, nil)
		}(), status: 413, errContains: "train: 109 rows, more than the limit of 100"},
		{name: "too many cells", ct: "application/json", body: func() []byte {
			big := *c
			big.testRec = append(slices.Clone(c.testRec), c.trainRec[:40]...)
			return big.jsonBody(t, nil)
		}(), status: 413, errContains: "cells together, more than the limit of 1500"},
		{name: "too many columns", ct: "application/json", body: []byte(`{"train": {"columns": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","r","s","t","u"], "rows": []}, "test": {"rows": []}}`),
			status: 413, errContains: "train: 21 columns, more than the limit of 20"},
		{name: "too many rows in CSV", ct: "", body: nil, status: 413, errContains: "rows, more than the limit of 100"},
		{name: "malformed JSON", ct: "application/json", body: []byte(`{"train": {"columns": ["a"], "rows": [[1,]]}}`), status: 400, errContains: "malformed JSON: invalid character"},
		{name: "truncated JSON", ct: "application/json", body: good[:len(good)/2], status: 400, errContains: "ends inside the JSON object"},
		{name: "trailing data", ct: "application/json", body: append(slices.Clone(good), []byte(` {}`)...), status: 400, errContains: "data after the request object"},
		{name: "empty body", ct: "application/json", body: nil, status: 400, errContains: "empty body"},
		{name: "unknown field", ct: "application/json", body: withExtra(map[string]any{"ensmble": 2}), status: 400, errContains: `unknown field "ensmble"`},
		{name: "missing train", ct: "application/json", body: []byte(`{"test": {"columns": ["a"], "rows": [[1]]}}`), status: 400, errContains: `"train" is missing`},
		{name: "missing test", ct: "application/json", body: []byte(`{"train": {"columns": ["a", "y"], "rows": [[1, "p"], [2, "q"]]}}`), status: 400, errContains: `"test" is missing`},
		{name: "unknown target", ct: "application/json", body: withExtra(map[string]any{"target": "colour"}), status: 400, errContains: `train: target column "colour" not found`},
		{name: "unknown target multipart", ct: "", status: 400, errContains: `train: target column "grape" not found`},
		{name: "one class", ct: "application/json", body: []byte(`{"train": {"columns": ["a", "y"], "rows": [[1, "p"], [2, "p"]]}, "test": {"rows": [[1]]}}`),
			status: 400, errContains: "only one class"},
		{name: "bad number in training table", ct: "application/json", body: func() []byte {
			bad := *c
			bad.trainRec = slices.Clone(c.trainRec)
			bad.trainRec[1] = slices.Clone(c.trainRec[1])
			bad.trainRec[1][0] = `"13,2"`
			return bad.jsonBody(t, nil)
		}(), status: 400, errContains: `train: row 2, column 1 ("alcohol"): "13,2" is not a number, yet 88 of the 89 non-missing values`},
		{name: "bad number in test table", ct: "application/json", body: func() []byte {
			bad := *c
			bad.testRec = slices.Clone(c.testRec)
			bad.testRec[2] = slices.Clone(c.testRec[2])
			bad.testRec[2][4] = `"lots"`
			return bad.jsonBody(t, nil)
		}(), status: 400, errContains: `test: row 3, column 5 ("magnesium"): "lots" is not a number`},
		{name: "nested cell", ct: "application/json", body: []byte(`{"train": {"columns": ["a", "y"], "rows": [[1, "p"], [{"v": 2}, "q"]]}, "test": {"rows": [[1]]}}`),
			status: 400, errContains: `train: row 2, column 1 ("a"): a cell must be a number, a string, true, false or null`},
		{name: "ragged row", ct: "application/json", body: []byte(`{"train": {"columns": ["a", "y"], "rows": [[1, "p"], [2]]}, "test": {"rows": [[1]]}}`),
			status: 400, errContains: "train: row 2 has 1 cells, but there are 2 columns"},
		{name: "test column missing", ct: "application/json", body: []byte(`{"train": {"columns": ["a", "b", "y"], "rows": [[1, 1, "p"], [2, 2, "q"]]}, "test": {"columns": ["a"], "rows": [[1]]}}`),
			status: 400, errContains: `test: column "b" of the training data is missing`},
		{name: "unseen test class", ct: "application/json", body: []byte(`{"train": {"columns": ["a", "y"], "rows": [[1, "p"], [2, "q"]]}, "test": {"columns": ["a", "y"], "rows": [[1, "r"]]}}`),
			status: 400, errContains: `class "r" does not occur in the training data`},
		{name: "ensemble too large", ct: "application/json", body: withExtra(map[string]any{"ensemble": 9}), status: 400, errContains: "ensemble must be between 0 (automatic) and 8, got 9"},
		{name: "ensemble negative", ct: "application/json", body: withExtra(map[string]any{"ensemble": -1}), status: 400, errContains: "got -1"},
		{name: "pairwise negative", ct: "application/json", body: withExtra(map[string]any{"pairwise": -1}), status: 400, errContains: "pairwise must be between 0 (off) and 8"},
		{name: "ensemble not an integer", ct: "application/json", body: withExtra(map[string]any{"ensemble": 2.5}), status: 400, errContains: "ensemble: expected int, got a JSON number 2.5"},
		{name: "seed negative", ct: "application/json", body: withExtra(map[string]any{"seed": -3}), status: 400, errContains: "seed: expected uint64"},
		{name: "regression", ct: "application/json", body: withExtra(map[string]any{"task": "regression"}), status: 400, errContains: `task "regression" is not supported: the only task is "classification"`},
		{name: "wrong content type", ct: "text/csv", body: []byte(trainCSV), status: 415, errContains: `content type "text/csv" not supported`},
		{name: "no content type", ct: "", body: good, status: 415, errContains: "not supported"},
		{name: "multipart without boundary", ct: "multipart/form-data", body: []byte("x"), status: 400, errContains: "without a boundary"},
		{name: "malformed multipart", ct: "multipart/form-data; boundary=zzz", body: []byte("--zzz\r\nnot a header\r\n\r\n"), status: 400, errContains: "malformed multipart body"},
		{name: "malformed CSV", ct: "", status: 400, errContains: "train: line 2: 13 fields, the header has 14"},
		{name: "CSV with a bare quote", ct: "", status: 400, errContains: `train: parse error on line 2`},
		{name: "missing test file", ct: "", status: 400, errContains: "the test file is missing"},
		{name: "unknown part", ct: "", status: 400, errContains: `unknown part "tset"`},
		{name: "multipart ensemble not a number", ct: "", status: 400, errContains: `ensemble: "four" is not an integer`},
		{name: "multipart seed negative", ct: "", status: 400, errContains: `seed: "-1" is not an integer`},
		{name: "wrong method", method: http.MethodGet, status: 405, errContains: "method not allowed"},
	}
	multipartCases := map[string][][2]string{
		"oversized multipart without length": {{"train.csv", string(big)}},
		"too many rows in CSV":               {{"train.csv", trainCSV + strings.Join(lines(c.trainRec[:20]), "")}, {"test.csv", testCSV}},
		"unknown target multipart":           {{"train.csv", trainCSV}, {"test.csv", testCSV}, {"target", "grape"}},
		"malformed CSV":                      {{"train.csv", strings.Replace(trainCSV, ",class_0\n", "\n", 2)}, {"test.csv", testCSV}},
		"CSV with a bare quote":              {{"train.csv", strings.Replace(trainCSV, "14.", `1"4.`, 1)}, {"test.csv", testCSV}},
		"missing test file":                  {{"train.csv", trainCSV}},
		"unknown part":                       {{"train.csv", trainCSV}, {"tset.csv", testCSV}},
		"multipart ensemble not a number":    {{"train.csv", trainCSV}, {"test.csv", testCSV}, {"ensemble", "four"}},
		"multipart seed negative":            {{"train.csv", trainCSV}, {"test.csv", testCSV}, {"seed", "-1"}},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			if parts, ok := multipartCases[k.name]; ok {
				k.body, k.ct = mp(parts...)
			}
			if k.method == "" {
				k.method = http.MethodPost
			}
			req := httptest.NewRequest(k.method, "/v1/predict", bytes.NewReader(k.body))
			if k.chunked {
				req.ContentLength = -1
			}
			if k.ct != "" {
				req.Header.Set("Content-Type", k.ct)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), k.status, k.errContains)
		})
	}
}

func lines(recs [][]string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = strings.Join(r, ",") + "\n"
	}
	return out
}

// checkError checks an error answer: the status, a JSON body {"error": ...} containing want.
func checkError(t testing.TB, status int, header http.Header, body []byte, wantStatus int, want string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status %d, want %d: %s", status, wantStatus, body)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	msg, ok := e["error"].(string)
	if !ok || len(e) != 1 || !strings.Contains(msg, want) {
		t.Errorf("error body %s, want {\"error\": \"...%s...\"}", body, want)
	}
}

// The other endpoints: liveness, readiness (which fails once shutdown begins), the model's
// description, and JSON errors for unknown paths.
func TestInfoEndpoints(t *testing.T) {
	h := newHandler(t, func(cfg *Config) { cfg.MaxConcurrent, cfg.Queue = 3, 5 })
	get := func(path string) (int, http.Header, []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Header(), rec.Body.Bytes()
	}
	if status, _, body := get("/healthz"); status != 200 || string(body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("/healthz: %d %s", status, body)
	}
	if status, _, body := get("/readyz"); status != 200 || string(body) != "{\"status\":\"ready\"}\n" {
		t.Errorf("/readyz: %d %s", status, body)
	}
	status, hdr, body := get("/v1/model")
	var info modelInfo
	if err := json.Unmarshal(body, &info); err != nil || status != 200 {
		t.Fatalf("/v1/model: %d %s (%v)", status, body, err)
	}
	if info.Parameters != 759882 || info.Device != "cpu" || info.Model != "embedded" || info.Config != model(t).Cfg ||
		info.Limits.MaxConcurrent != 3 || info.Limits.Queue != 5 || info.Limits.TimeoutSeconds != 60 {
		t.Errorf("/v1/model: %+v", info)
	}
	if hdr.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	status, hdr, body = get("/v2/predict")
	checkError(t, status, hdr, body, 404, "no endpoint /v2/predict")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/healthz", nil))
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 405, "method not allowed")
	if rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q", rec.Header().Get("Allow"))
	}
	h.drain()
	status, hdr, body = get("/readyz")
	checkError(t, status, hdr, body, 503, "shutting down")
}

// A client's plain request id is echoed and logged; anything else is replaced.
func TestRequestID(t *testing.T) {
	if got := requestID("abc-123_x.y"); got != "abc-123_x.y" {
		t.Errorf("plain id became %q", got)
	}
	for _, bad := range []string{"", "a b", "x\ny", strings.Repeat("a", 65)} {
		if got := requestID(bad); got == bad || len(got) != 16 {
			t.Errorf("id %q became %q", bad, got)
		}
	}
}

func TestConfigBounds(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.MaxConcurrent = 0 }, "max-concurrent must be between 1 and 1024, got 0"},
		{func(c *Config) { c.Queue = -1 }, "queue must be between 0"},
		{func(c *Config) { c.MaxBody = 10 }, "max-body must be between 1024"},
		{func(c *Config) { c.MaxRows = 0 }, "max-rows"},
		{func(c *Config) { c.MaxColumns = 1 }, "max-columns"},
		{func(c *Config) { c.MaxCells = 1 << 40 }, "max-cells"},
		{func(c *Config) { c.MaxEnsemble = 0 }, "max-ensemble"},
		{func(c *Config) { c.Timeout = 0 }, "timeout must be between 10ms and 24h0m0s, got 0s"},
		{func(c *Config) { c.ShutdownGrace = -1 }, "grace"},
	}
	for _, k := range cases {
		cfg := DefaultConfig()
		cfg.Model = model(t)
		k.edit(&cfg)
		if _, err := NewHandler(cfg); err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("error %v, want %q", err, k.want)
		}
	}
	if _, err := NewHandler(DefaultConfig()); err == nil || !strings.Contains(err.Error(), "no model") {
		t.Errorf("no model: %v", err)
	}
}
