package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/kiln-ml/kiln/data"
)

// TaskClassification is the only task /v1/predict accepts so far; "task" exists in the
// request so that regression can be added without changing the schema.
const TaskClassification = "classification"

// statusError is an error with the HTTP status it is answered with.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, args...)}
}

// job is a parsed prediction request, ready for the model.
type job struct {
	task        string
	train, test *data.Table
	ensemble    int    // 0: automatic
	pairwise    int    // members per pair of classes; -1: automatic, 0: off
	seed        uint64 // of the classifier's random choices
}

// predictRequest is the JSON body of POST /v1/predict (see the package documentation).
type predictRequest struct {
	Task     string     `json:"task"`
	Target   string     `json:"target"`
	Train    *jsonTable `json:"train"`
	Test     *jsonTable `json:"test"`
	Ensemble *int       `json:"ensemble"`
	Pairwise *int       `json:"pairwise"`
	Seed     uint64     `json:"seed"`
}

// jsonTable is a table as JSON: column names and rows of cells. Cells stay raw until the
// table's size is checked, then become the text a CSV file would hold.
type jsonTable struct {
	Columns []string            `json:"columns"`
	Rows    [][]json.RawMessage `json:"rows"`
}

// readJob reads and checks a prediction request: its content type, size and fields, and
// loads both tables. Every error it returns is a *statusError.
func (h *Handler) readJob(w http.ResponseWriter, r *http.Request) (*job, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && mt != "multipart/form-data") {
		return nil, errorf(http.StatusUnsupportedMediaType,
			"content type %q not supported: send application/json or multipart/form-data", ct)
	}
	if r.ContentLength > h.cfg.MaxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes exceeds the limit of %d bytes",
			r.ContentLength, h.cfg.MaxBody)
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	if mt == "application/json" {
		return h.readJSON(r.Body)
	}
	if params["boundary"] == "" {
		return nil, errorf(http.StatusBadRequest, "multipart/form-data without a boundary parameter")
	}
	return h.readMultipart(r)
}

// bodyError turns an error from reading the body into a 413 when the body is too large, and
// a 400 saying what was being read otherwise.
func (h *Handler) bodyError(err error, what string) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", tooBig.Limit)
	}
	return errorf(http.StatusBadRequest, "%s: %v", what, err)
}

func (h *Handler) readJSON(body io.Reader) (*job, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req predictRequest
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errorf(http.StatusBadRequest, "empty body: send a JSON object with train and test")
		}
		return nil, h.bodyError(jsonError(err), "malformed JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, h.bodyError(err, "malformed JSON")
		}
		return nil, errorf(http.StatusBadRequest, "malformed JSON: data after the request object")
	}
	j := &job{task: req.Task, pairwise: -1, seed: req.Seed}
	if req.Ensemble != nil {
		j.ensemble = *req.Ensemble
	}
	if req.Pairwise != nil {
		j.pairwise = *req.Pairwise
	}
	if err := h.checkOptions(j, req.Pairwise != nil); err != nil {
		return nil, err
	}
	switch {
	case req.Train == nil:
		return nil, errorf(http.StatusBadRequest, `"train" is missing: the training table with its target column`)
	case req.Test == nil:
		return nil, errorf(http.StatusBadRequest, `"test" is missing: the rows to predict`)
	}
	cells := 0
	for _, t := range []struct {
		name string
		tab  *jsonTable
	}{{"train", req.Train}, {"test", req.Test}} {
		n, err := h.checkJSONSize(t.name, t.tab)
		if err != nil {
			return nil, err
		}
		cells += n
	}
	if cells > h.cfg.MaxCells {
		return nil, errorf(http.StatusRequestEntityTooLarge, "the tables hold %d cells together, more than the limit of %d", cells, h.cfg.MaxCells)
	}

	recs, err := req.Train.records("train")
	if err != nil {
		return nil, err
	}
	if j.train, err = data.ReadRecords(req.Train.Columns, recs, data.Options{Target: req.Target}); err != nil {
		return nil, dataError("train", err)
	}
	cols := req.Test.Columns
	if cols == nil {
		cols = j.train.FeatureNames()
	}
	if recs, err = (&jsonTable{Columns: cols, Rows: req.Test.Rows}).records("test"); err != nil {
		return nil, err
	}
	if j.test, err = data.ReadRecords(cols, recs, data.Options{Schema: j.train, TargetOptional: true}); err != nil {
		return nil, dataError("test", err)
	}
	return j, nil
}

// jsonError words the decoder's errors for a client: where the syntax broke, which field
// has the wrong type.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the request"
		}
		return fmt.Errorf("%s: expected %s, got a JSON %s", field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the body ends inside the JSON object")
	case errors.As(err, new(*http.MaxBytesError)):
		return err
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// checkJSONSize checks a JSON table's columns, rows and row lengths against the limits and
// returns its cell count.
func (h *Handler) checkJSONSize(name string, t *jsonTable) (int, error) {
	if len(t.Columns) > h.cfg.MaxColumns {
		return 0, errorf(http.StatusRequestEntityTooLarge, "%s: %d columns, more than the limit of %d", name, len(t.Columns), h.cfg.MaxColumns)
	}
	if len(t.Rows) > h.cfg.MaxRows {
		return 0, errorf(http.StatusRequestEntityTooLarge, "%s: %d rows, more than the limit of %d", name, len(t.Rows), h.cfg.MaxRows)
	}
	n := 0
	for _, row := range t.Rows {
		n += len(row)
	}
	return n, nil
}

// records turns the JSON cells into the text a CSV file would hold: a number as written, a
// string as is, true and false as words, null as empty (missing).
func (t *jsonTable) records(name string) ([][]string, error) {
	out := make([][]string, len(t.Rows))
	for i, row := range t.Rows {
		if len(row) != len(t.Columns) {
			return nil, errorf(http.StatusBadRequest, "%s: row %d has %d cells, but there are %d columns", name, i+1, len(row), len(t.Columns))
		}
		rec := make([]string, len(row))
		for j, raw := range row {
			s, ok := cellText(raw)
			if !ok {
				return nil, errorf(http.StatusBadRequest, "%s: row %d, column %d (%q): a cell must be a number, a string, true, false or null",
					name, i+1, j+1, t.Columns[j])
			}
			rec[j] = s
		}
		out[i] = rec
	}
	return out, nil
}

func cellText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case 'n': // null
		return "", true
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), true
	}
	return "", false // an array or an object
}

// dataError is a table that does not load: the loader's message, which names the row and
// column, under the table's name.
func dataError(table string, err error) error {
	return errorf(http.StatusBadRequest, "%s: %s", table, strings.TrimPrefix(err.Error(), "data: "))
}

// checkOptions checks the task and the ensemble sizes a request asks for.
func (h *Handler) checkOptions(j *job, pairwiseGiven bool) error {
	if j.task == "" {
		j.task = TaskClassification
	}
	if j.task != TaskClassification {
		return errorf(http.StatusBadRequest, "task %q is not supported: the only task is %q", j.task, TaskClassification)
	}
	if j.ensemble < 0 || j.ensemble > h.cfg.MaxEnsemble {
		return errorf(http.StatusBadRequest, "ensemble must be between 0 (automatic) and %d, got %d", h.cfg.MaxEnsemble, j.ensemble)
	}
	if pairwiseGiven && (j.pairwise < 0 || j.pairwise > h.cfg.MaxEnsemble) {
		return errorf(http.StatusBadRequest, "pairwise must be between 0 (off) and %d members per pair, got %d (leave it out for automatic)",
			h.cfg.MaxEnsemble, j.pairwise)
	}
	return nil
}

// multipart fields besides the two files; each is short text.
var multipartFields = map[string]bool{"target": true, "task": true, "ensemble": true, "pairwise": true, "seed": true}

func (h *Handler) readMultipart(r *http.Request) (*job, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed multipart body: %v", err)
	}
	files := map[string][]byte{}
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, h.bodyError(err, "malformed multipart body")
		}
		name := part.FormName()
		b, err := io.ReadAll(part)
		part.Close()
		if err != nil {
			return nil, h.bodyError(err, "malformed multipart body")
		}
		switch {
		case name == "train" || name == "test":
			if _, dup := files[name]; dup {
				return nil, errorf(http.StatusBadRequest, "multipart: %q given twice", name)
			}
			files[name] = b
		case multipartFields[name]:
			if _, dup := fields[name]; dup {
				return nil, errorf(http.StatusBadRequest, "multipart: %q given twice", name)
			}
			fields[name] = strings.TrimSpace(string(b))
		default:
			return nil, errorf(http.StatusBadRequest, "multipart: unknown part %q (expected the files train and test and the fields target, task, ensemble, pairwise, seed)", name)
		}
	}
	j := &job{task: fields["task"], pairwise: -1}
	ints := []struct {
		name string
		dst  *int
	}{{"ensemble", &j.ensemble}, {"pairwise", &j.pairwise}}
	for _, f := range ints {
		if s, ok := fields[f.name]; ok {
			v, err := strconv.Atoi(s)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "%s: %q is not an integer", f.name, s)
			}
			*f.dst = v
		}
	}
	if s, ok := fields["seed"]; ok {
		if j.seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, errorf(http.StatusBadRequest, "seed: %q is not an integer between 0 and 2^64−1", s)
		}
	}
	_, pairwiseGiven := fields["pairwise"]
	if err := h.checkOptions(j, pairwiseGiven); err != nil {
		return nil, err
	}
	for _, name := range []string{"train", "test"} {
		if _, ok := files[name]; !ok {
			return nil, errorf(http.StatusBadRequest, "multipart: the %s file is missing (a CSV with a header row)", name)
		}
	}
	if j.train, err = data.ReadCSV(bytes.NewReader(files["train"]), data.Options{Target: fields["target"]}); err != nil {
		return nil, dataError("train", err)
	}
	if err := h.checkTableSize("train", j.train, 1); err != nil {
		return nil, err
	}
	if j.test, err = data.ReadCSV(bytes.NewReader(files["test"]), data.Options{Schema: j.train, TargetOptional: true}); err != nil {
		return nil, dataError("test", err)
	}
	extra := 0
	if j.test.Y != nil {
		extra = 1
	}
	if err := h.checkTableSize("test", j.test, extra); err != nil {
		return nil, err
	}
	cells := j.train.Rows()*(j.train.NumFeatures()+1) + j.test.Rows()*(j.test.NumFeatures()+extra)
	if cells > h.cfg.MaxCells {
		return nil, errorf(http.StatusRequestEntityTooLarge, "the tables hold %d cells together, more than the limit of %d", cells, h.cfg.MaxCells)
	}
	return j, nil
}

// checkTableSize checks a loaded table against the row and column limits; extra counts the
// target column when the table has it.
func (h *Handler) checkTableSize(name string, t *data.Table, extra int) error {
	if cols := t.NumFeatures() + extra; cols > h.cfg.MaxColumns {
		return errorf(http.StatusRequestEntityTooLarge, "%s: %d columns, more than the limit of %d", name, cols, h.cfg.MaxColumns)
	}
	if t.Rows() > h.cfg.MaxRows {
		return errorf(http.StatusRequestEntityTooLarge, "%s: %d rows, more than the limit of %d", name, t.Rows(), h.cfg.MaxRows)
	}
	return nil
}
