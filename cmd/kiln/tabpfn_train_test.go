package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
)

func runTrain(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newTabpfnTrainCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func exportMeta(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f.Metadata
}

// Training, a new phase on resume, and the export's metadata: the device is named only when
// the run that exported also trained.
func TestTabpfnTrainPhaseAndExport(t *testing.T) {
	dir := t.TempDir()
	run, model := filepath.Join(dir, "run.safetensors"), filepath.Join(dir, "model.safetensors")
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	out, stderr, err := runTrain(t, "--out", run, "--config", tiny, "--steps", "3", "--batch", "2", "--max-rows", "40",
		"--max-features", "4", "--export", model)
	if err != nil {
		t.Fatal(err, stderr)
	}
	steps := 0
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "step ") && strings.Contains(l, "datasets/s") {
			steps++
		}
	}
	if !strings.Contains(out, "trained to step 3 in") || steps != 3 {
		t.Errorf("progress:\n%s\n%s", out, stderr)
	}
	if m := exportMeta(t, model); m["tabpfn.trained_steps"] != "3" || m["tabpfn.device"] != "cpu" {
		t.Errorf("export metadata after training: %v", m)
	}
	// A resume that changes the prior starts a new phase from step 3.
	_, stderr, err = runTrain(t, "--out", run, "--resume", "--steps", "5", "--max-rows", "48", "--lr", "5e-4")
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, "new phase from step 3: lr 0.0005") || !strings.Contains(stderr, "rows 30-48") {
		t.Errorf("no new phase announced:\n%s", stderr)
	}
	// Export only (no steps left to train): no device claimed.
	out, stderr, err = runTrain(t, "--out", run, "--resume", "--steps", "1", "--export", model)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if m := exportMeta(t, model); m["tabpfn.trained_steps"] != "5" || m["tabpfn.device"] != "" {
		t.Errorf("export-only metadata: %v (out %q)", m, out)
	}
	// A phase needs steps beyond the checkpoint's.
	if _, _, err := runTrain(t, "--out", run, "--resume", "--steps", "4", "--lr", "1e-4"); err == nil || !strings.Contains(err.Error(), "more steps") {
		t.Errorf("phase without steps left: err = %v", err)
	}
}

// --every and --workers given on resume replace the checkpoint's (they say how this process
// runs, not what it learns); without them the checkpoint's stay.
func TestTabpfnTrainResumeRunSettings(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.safetensors")
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	if _, stderr, err := runTrain(t, "--out", run, "--config", tiny, "--steps", "2", "--batch", "2", "--max-rows", "40",
		"--max-features", "4", "--every", "1", "--workers", "1"); err != nil {
		t.Fatal(err, stderr)
	}
	stored := func() (every, workers float64) {
		var tc map[string]any
		if err := json.Unmarshal([]byte(exportMeta(t, run)["tabpfn.train_config"]), &tc); err != nil {
			t.Fatal(err)
		}
		return tc["checkpoint_every"].(float64), tc["workers"].(float64)
	}
	if e, w := stored(); e != 1 || w != 1 {
		t.Fatalf("new run stored every=%v workers=%v, want 1 and 1", e, w)
	}
	if _, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "3"); err != nil {
		t.Fatal(err, stderr)
	}
	if e, w := stored(); e != 1 || w != 1 {
		t.Errorf("plain resume changed the settings: every=%v workers=%v", e, w)
	}
	if _, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "4", "--every", "50", "--workers", "3", "--micro-batch", "1"); err != nil {
		t.Fatal(err, stderr)
	}
	if e, w := stored(); e != 50 || w != 3 {
		t.Errorf("resume with --every 50 --workers 3 stored every=%v workers=%v", e, w)
	}
	var tc map[string]any
	if err := json.Unmarshal([]byte(exportMeta(t, run)["tabpfn.train_config"]), &tc); err != nil || tc["micro_batch"] != 1.0 {
		t.Errorf("resume with --micro-batch 1 stored %v (%v)", tc["micro_batch"], err)
	}
	if _, _, err := runTrain(t, "--out", run, "--resume", "--steps", "5", "--every", "-1"); err == nil {
		t.Error("--every -1 accepted")
	}
	// A setting beyond its bound would make the checkpoint unresumable: refused up front.
	if _, _, err := runTrain(t, "--out", run, "--resume", "--steps", "5", "--workers", "100000"); err == nil ||
		!strings.Contains(err.Error(), "100000") || !strings.Contains(err.Error(), "256") {
		t.Errorf("--workers 100000 on resume: err = %v", err)
	}
	if _, _, err := runTrain(t, "--out", run, "--resume", "--steps", "5"); err != nil {
		t.Errorf("the checkpoint no longer resumes after a refused setting: %v", err)
	}
}

// --prior-mechanisms: a new run takes the basic prior unless told otherwise; on resume
// the flag starts a new phase whose prior config is stored, and an unknown name is an error.
func TestTabpfnTrainPriorMechanisms(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.safetensors")
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	storedPrior := func() prior.Config {
		var tc tabpfn.TrainConfig
		if err := json.Unmarshal([]byte(exportMeta(t, run)["tabpfn.train_config"]), &tc); err != nil {
			t.Fatal(err)
		}
		return tc.Prior
	}
	if _, stderr, err := runTrain(t, "--out", run, "--config", tiny, "--steps", "1", "--batch", "2", "--max-rows", "40",
		"--max-features", "4", "--prior-mechanisms", "extended"); err != nil {
		t.Fatal(err, stderr)
	}
	if got := storedPrior().Mechanisms(); got != prior.MechanismsExtended {
		t.Fatalf("new run with --prior-mechanisms extended stored %q", got)
	}
	_, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "2", "--prior-mechanisms", "basic")
	if err != nil {
		t.Fatal(err, stderr)
	}
	if got := storedPrior().Mechanisms(); got != prior.MechanismsBasic || !strings.Contains(stderr, "new phase from step 1") ||
		!strings.Contains(stderr, "basic prior") {
		t.Errorf("resume with --prior-mechanisms basic stored %q:\n%s", got, stderr)
	}
	if _, _, err := runTrain(t, "--out", run, "--resume", "--steps", "3", "--prior-mechanisms", "fancy"); err == nil ||
		!strings.Contains(err.Error(), `unknown mechanism set "fancy"`) {
		t.Errorf("unknown mechanism set: err = %v", err)
	}
	fresh := filepath.Join(dir, "fresh.safetensors")
	if _, stderr, err := runTrain(t, "--out", fresh, "--config", tiny, "--steps", "1", "--batch", "2", "--max-rows", "40",
		"--max-features", "4"); err != nil {
		t.Fatal(err, stderr)
	}
	run = fresh
	if got := storedPrior().Mechanisms(); got != prior.MechanismsBasic {
		t.Errorf("a new run's default prior is %q, want basic", got)
	}
}

// --prior-groups sets a new run's share of grouped datasets, which the checkpoint records;
// a resume keeps it, and one that asks for another share is refused.
func TestTabpfnTrainPriorGroups(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.safetensors")
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":0,"max_features":8,"max_train_rows":64,"task":"regression","bins":16}`
	if _, stderr, err := runTrain(t, "--task", "regression", "--out", run, "--config", tiny, "--steps", "1", "--batch", "2",
		"--max-rows", "40", "--max-features", "4", "--prior-groups", "0.5"); err != nil {
		t.Fatal(err, stderr)
	}
	var tc tabpfn.TrainConfig
	if err := json.Unmarshal([]byte(exportMeta(t, run)["tabpfn.train_config"]), &tc); err != nil {
		t.Fatal(err)
	}
	if tc.Prior.GroupFraction != 0.5 {
		t.Fatalf("stored GroupFraction %v, want 0.5", tc.Prior.GroupFraction)
	}
	if _, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "2", "--prior-groups", "0.5"); err != nil {
		t.Fatal("resume with the run's own --prior-groups:", err, stderr)
	}
	if _, _, err := runTrain(t, "--out", run, "--resume", "--steps", "3", "--prior-groups", "0.2"); err == nil ||
		!strings.Contains(err.Error(), "--prior-groups 0.2, but the run") {
		t.Errorf("resume with another --prior-groups: err = %v", err)
	}
	if _, _, err := runTrain(t, "--out", filepath.Join(dir, "bad.safetensors"), "--config", tiny, "--task", "regression",
		"--steps", "1", "--prior-groups", "1.5"); err == nil {
		t.Error("--prior-groups 1.5 was accepted")
	}
}

// --init starts a new run from a model's weights, --init-layers deepens it first; the flags
// that contradict them are refused.
func TestTabpfnTrainInit(t *testing.T) {
	dir := t.TempDir()
	run, model, deep := filepath.Join(dir, "run.safetensors"), filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "deep.safetensors")
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	if _, stderr, err := runTrain(t, "--out", run, "--config", tiny, "--steps", "2", "--batch", "2", "--max-rows", "40",
		"--max-features", "4", "--export", model); err != nil {
		t.Fatal(err, stderr)
	}
	out, stderr, err := runTrain(t, "--out", deep, "--init", model, "--init-layers", "3", "--steps", "2", "--batch", "2",
		"--max-rows", "40", "--max-features", "4")
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, `new run from the weights of `+model+`: {"layers":3,`) || !strings.Contains(out, "trained to step 2 in") {
		t.Errorf("output:\n%s\n%s", out, stderr)
	}
	m := exportMeta(t, deep)
	var cfg tabpfn.Config
	if err := json.Unmarshal([]byte(m[tabpfn.MetaConfig]), &cfg); err != nil || cfg.Layers != 3 || cfg.Width != 8 {
		t.Errorf("deepened run's config: %v (%v)", m[tabpfn.MetaConfig], err)
	}
	if m["tabpfn.step"] != "2" {
		t.Errorf("a run from --init counts its own steps from 0: step %q", m["tabpfn.step"])
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", deep, "--init", model, "--config", tiny}, "--init and --config"},
		{[]string{"--out", deep, "--init", model, "--resume"}, "--init starts a new run"},
		{[]string{"--out", deep, "--init-layers", "3"}, "--init-layers needs --init"},
		{[]string{"--out", filepath.Join(dir, "new.safetensors"), "--init", deep, "--init-layers", "2"}, "more layers than the model's 3"},
		{[]string{"--out", filepath.Join(dir, "new.safetensors"), "--init", filepath.Join(dir, "missing.safetensors")}, "--init:"},
	} {
		if _, _, err := runTrain(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// --distributed on the single-process communicator runs every mode end to end; the
// multi-process runs are make test-mpi's.
func TestTabpfnTrainDistributedLocal(t *testing.T) {
	dir := t.TempDir()
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	for _, mode := range []string{"ddp", "zero1", "diloco"} {
		run := filepath.Join(dir, mode+".safetensors")
		out, stderr, err := runTrain(t, "--distributed", "--comm", "local", "--dist-mode", mode, "--local-steps", "2",
			"--out", run, "--config", tiny, "--steps", "3", "--batch", "2", "--max-rows", "40", "--max-features", "4")
		if err != nil {
			t.Fatal(mode, err, stderr)
		}
		if !strings.Contains(out, "trained to step 3") || !strings.Contains(out, "× 1 ranks ("+mode) ||
			!strings.Contains(stderr, "distributed: 1 ranks over local, "+mode) {
			t.Errorf("%s:\n%s\n%s", mode, out, stderr)
		}
		// The checkpoint resumes without --distributed.
		if _, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "4"); err != nil {
			t.Fatal(mode, err, stderr)
		}
	}
	_, _, err := runTrain(t, "--distributed", "--comm", "local", "--dist-mode", "ring", "--out", filepath.Join(dir, "x.safetensors"),
		"--config", tiny, "--steps", "1", "--batch", "2")
	if err == nil || !strings.Contains(err.Error(), "unknown distributed mode") {
		t.Errorf("unknown mode: %v", err)
	}
}

// --corpus mixes corpus tasks in, a resume keeps the checkpoint's corpus settings and
// refuses others, and the auxiliary tasks train and stay out of the export.
func TestTabpfnTrainCorpus(t *testing.T) {
	dir := t.TempDir()
	corpusDir := filepath.Join(dir, "corpus")
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("a,b,c\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "%d,%d,%d\n", i%7, (i*3)%11, i%2)
	}
	if err := os.WriteFile(filepath.Join(corpusDir, "p__t.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corpusDir, "p__bad.csv"), []byte("a,b\n\"1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run.safetensors")
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	args := []string{"--out", run, "--config", tiny, "--steps", "4", "--batch", "2", "--max-rows", "40", "--max-features", "4",
		"--corpus", corpusDir, "--corpus-fraction", "1"}
	_, stderr, err := runTrain(t, args...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, "corpus "+corpusDir+": 2 tables, 100% of batches") || !strings.Contains(stderr, "p__bad.csv") {
		t.Errorf("stderr does not report the corpus and the bad file:\n%s", stderr)
	}
	meta := exportMeta(t, run)
	var tc tabpfn.TrainConfig
	if err := json.Unmarshal([]byte(meta["tabpfn.train_config"]), &tc); err != nil || tc.Corpus == nil || tc.Corpus.Fraction != 1 {
		t.Fatalf("checkpoint corpus settings: %+v, %v", tc.Corpus, err)
	}
	_, stderr, err = runTrain(t, "--out", run, "--resume", "--steps", "6", "--corpus", corpusDir, "--corpus-fraction", "0.5")
	if err == nil || !strings.Contains(err.Error(), "other corpus settings") {
		t.Errorf("a resume with another corpus fraction: err = %v", err)
	}
	if _, stderr, err = runTrain(t, "--out", run, "--resume", "--steps", "6"); err != nil {
		t.Fatal(err, stderr)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--ssl-tasks", "contrastive"}, `list "column" too`},
		{[]string{"--ssl-tasks", "column,cells"}, "unknown task"},
		{[]string{"--masked-weight", "2"}, "--masked-weight needs --corpus with --ssl-tasks including masked"},
		{[]string{"--ssl-tasks", "column,masked", "--contrastive-temperature", "0.1"}, "including contrastive"},
	} {
		_, _, err := runTrain(t, append([]string{"--out", filepath.Join(dir, "x.safetensors"), "--corpus", corpusDir}, bad.args...)...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: err = %v, want %q", bad.args, err, bad.want)
		}
	}
	// The auxiliary tasks train, log their losses, resume with their settings and stay out
	// of the export.
	ssl := filepath.Join(dir, "ssl.safetensors")
	sslArgs := []string{"--config", tiny, "--steps", "2", "--batch", "2", "--max-rows", "40", "--max-features", "4",
		"--corpus", corpusDir, "--corpus-fraction", "1", "--ssl-tasks", "column,masked,contrastive", "--masked-weight", "0.25",
		"--contrastive-temperature", "0.5"}
	_, stderr, err = runTrain(t, append([]string{"--out", ssl}, sslArgs...)...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, "masked ") || !strings.Contains(stderr, "contrastive ") {
		t.Errorf("the step log has no auxiliary losses:\n%s", stderr)
	}
	var stc tabpfn.TrainConfig
	if err := json.Unmarshal([]byte(exportMeta(t, ssl)["tabpfn.train_config"]), &stc); err != nil ||
		stc.Corpus.MaskedWeight != 0.25 || stc.Corpus.Temperature != 0.5 || stc.Corpus.ContrastiveWeight != tabpfn.DefaultContrastiveWeight {
		t.Fatalf("auxiliary settings stored as %+v, %v", stc.Corpus, err)
	}
	if _, _, err := runTrain(t, "--out", ssl, "--resume", "--steps", "3", "--corpus", corpusDir, "--corpus-fraction", "1",
		"--ssl-tasks", "column,masked,contrastive"); err == nil || !strings.Contains(err.Error(), "other corpus settings") {
		t.Errorf("a resume with another masked weight: err = %v", err)
	}
	exported := filepath.Join(dir, "ssl.model.safetensors")
	if _, stderr, err := runTrain(t, append([]string{"--out", ssl, "--resume", "--steps", "3", "--export", exported}, sslArgs[10:]...)...); err != nil {
		t.Fatal(err, stderr)
	}
	f, err := checkpoint.Load(exported)
	if err != nil {
		t.Fatal(err)
	}
	for name := range f.Entries {
		if strings.HasPrefix(name, "ssl.") {
			t.Errorf("the export holds the head parameter %s", name)
		}
	}
	held := filepath.Join(dir, "held.safetensors")
	if _, stderr, err := runTrain(t, "--out", held, "--config", tiny, "--steps", "1", "--batch", "2", "--max-rows", "40",
		"--corpus", corpusDir, "--corpus-holdout", "2"); err != nil {
		t.Fatal(err, stderr)
	}
	var htc tabpfn.TrainConfig
	if err := json.Unmarshal([]byte(exportMeta(t, held)["tabpfn.train_config"]), &htc); err != nil || htc.Corpus.HoldoutEvery != 2 {
		t.Fatalf("--corpus-holdout 2 stored as %+v, %v", htc.Corpus, err)
	}
	if _, _, err := runTrain(t, "--out", filepath.Join(dir, "y.safetensors"), "--corpus-fraction", "0.3"); err == nil || !strings.Contains(err.Error(), "needs --corpus") {
		t.Errorf("--corpus-fraction alone: err = %v", err)
	}
}

// TestTabpfnTrainRegression trains a regression model from scratch and from a classifier's
// body (optionally frozen), and refuses a resume that asks for the other task.
func TestTabpfnTrainRegression(t *testing.T) {
	dir := t.TempDir()
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	run := filepath.Join(dir, "reg.safetensors")
	common := []string{"--steps", "2", "--batch", "2", "--max-rows", "40", "--max-features", "4", "--bins", "20"}
	if _, stderr, err := runTrain(t, append([]string{"--task", "regression", "--out", run, "--config", tiny}, common...)...); err != nil {
		t.Fatal(err, stderr)
	}
	m, err := tabpfn.Load(device.MustGet("cpu"), run)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Cfg.Regression() || m.Cfg.Bins != 20 || m.Bars == nil {
		t.Fatalf("trained model %+v", m.Cfg)
	}
	m.Release()
	if _, _, err := runTrain(t, "--out", run, "--resume", "--task", "classification", "--steps", "3"); err == nil || !strings.Contains(err.Error(), "regression run") {
		t.Errorf("resume as classification: %v", err)
	}
	if _, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "3"); err != nil {
		t.Fatal(err, stderr)
	}

	// From a classifier's body.
	clf := filepath.Join(dir, "clf.safetensors")
	if _, stderr, err := runTrain(t, "--out", clf, "--config", tiny, "--steps", "1", "--batch", "2", "--max-rows", "40", "--max-features", "4"); err != nil {
		t.Fatal(err, stderr)
	}
	frozen := filepath.Join(dir, "frozen.safetensors")
	_, stderr, err := runTrain(t, append([]string{"--task", "regression", "--out", frozen, "--init", clf, "--freeze-body"}, common...)...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, "the body of the classifier") {
		t.Errorf("init from a classifier not announced:\n%s", stderr)
	}
	if _, _, err := runTrain(t, "--out", filepath.Join(dir, "x.safetensors"), "--init", frozen); err == nil || !strings.Contains(err.Error(), "regression model") {
		t.Errorf("classification run from a regression model: %v", err)
	}
	if _, _, err := runTrain(t, "--out", clf, "--resume", "--bins", "30", "--steps", "2"); err == nil {
		t.Error("--bins accepted for a classification run")
	}
}

// --task regression with --corpus trains on regression tasks of the corpus's numeric
// columns (tables without one are skipped), resumes with the same corpus settings, and
// refuses the classifier-only auxiliary tasks.
func TestTabpfnTrainRegressionCorpus(t *testing.T) {
	dir := t.TempDir()
	corpusDir := filepath.Join(dir, "corpus")
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("x,kind,flag,y\n")
	for i := 0; i < 100; i++ {
		x := math.Sin(float64(i) * 0.7)
		y := ""
		if i%9 != 4 {
			y = fmt.Sprintf("%.4f", 3*x+math.Cos(float64(i)))
		}
		fmt.Fprintf(&b, "%.4f,k%d,%d,%s\n", x, i%5, i%2, y)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(corpusDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("p__reg.csv", b.String())
	b.Reset()
	b.WriteString("same,empty,few\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "3,,%d\n", i%4)
	}
	write("p__no_target.csv", b.String())
	run := filepath.Join(dir, "run.safetensors")
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	args := []string{"--task", "regression", "--out", run, "--config", tiny, "--steps", "2", "--batch", "2", "--max-rows", "40",
		"--max-features", "4", "--bins", "16", "--corpus", corpusDir, "--corpus-fraction", "1"}
	_, stderr, err := runTrain(t, args...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, "corpus "+corpusDir+": 2 tables, 100% of batches, regression tasks column") {
		t.Errorf("stderr does not report regression corpus tasks:\n%s", stderr)
	}
	steps := 0
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "step ") {
			steps++
			if strings.Contains(l, "NaN") || strings.Contains(l, "Inf") {
				t.Errorf("a non-finite loss: %s", l)
			}
		}
	}
	if steps != 2 || strings.Contains(stderr, "from the prior instead") {
		t.Errorf("want 2 steps, all from the corpus:\n%s", stderr)
	}
	var tc tabpfn.TrainConfig
	if err := json.Unmarshal([]byte(exportMeta(t, run)["tabpfn.train_config"]), &tc); err != nil || tc.Corpus == nil || tc.Corpus.Fraction != 1 {
		t.Fatalf("checkpoint corpus settings: %+v, %v", tc.Corpus, err)
	}
	if _, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "3"); err != nil || !strings.Contains(stderr, "regression tasks column") {
		t.Fatal(err, stderr)
	}
	_, _, err = runTrain(t, append(slices.Clone(args[:len(args)-4]), "--out", filepath.Join(dir, "x.safetensors"), "--force",
		"--corpus", corpusDir, "--ssl-tasks", "column,masked")...)
	if err == nil || !strings.Contains(err.Error(), "--task regression takes --ssl-tasks column") {
		t.Errorf("regression with masked cells: err = %v", err)
	}
}

// --precision bf16 is recorded in the checkpoint (fp32 by omission): a plain resume continues
// it, the same flag is accepted, and another precision is refused without touching the run.
func TestTabpfnTrainPrecision(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.safetensors")
	tiny := `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	common := []string{"--config", tiny, "--batch", "2", "--max-rows", "40", "--max-features", "4", "--workers", "1"}
	precision := func(path string) any {
		var tc map[string]any
		if err := json.Unmarshal([]byte(exportMeta(t, path)["tabpfn.train_config"]), &tc); err != nil {
			t.Fatal(err)
		}
		return tc["precision"]
	}
	if _, stderr, err := runTrain(t, append([]string{"--out", run, "--steps", "2", "--precision", "bf16"}, common...)...); err != nil {
		t.Fatal(err, stderr)
	}
	if p := precision(run); p != "bf16" {
		t.Fatalf("bf16 run stored precision %v", p)
	}
	if _, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "3"); err != nil {
		t.Fatal(err, stderr)
	}
	if _, stderr, err := runTrain(t, "--out", run, "--resume", "--steps", "4", "--precision", "bf16"); err != nil {
		t.Fatal(err, stderr)
	}
	if p := precision(run); p != "bf16" {
		t.Errorf("resumed bf16 run stored precision %v", p)
	}
	if _, _, err := runTrain(t, "--out", run, "--resume", "--steps", "5", "--precision", "fp32"); err == nil ||
		!strings.Contains(err.Error(), "trains in bf16") {
		t.Errorf("--precision fp32 on a bf16 run: err = %v", err)
	}
	if step := exportMeta(t, run)["tabpfn.step"]; step != "4" {
		t.Errorf("a refused resume changed the run: step %s", step)
	}

	fp := filepath.Join(dir, "fp32.safetensors")
	if _, stderr, err := runTrain(t, append([]string{"--out", fp, "--steps", "1"}, common...)...); err != nil {
		t.Fatal(err, stderr)
	}
	if p := precision(fp); p != nil {
		t.Errorf("fp32 run stored precision %v, want none (fp32 by omission)", p)
	}
	if _, _, err := runTrain(t, "--out", fp, "--resume", "--steps", "2", "--precision", "bf16"); err == nil ||
		!strings.Contains(err.Error(), "trains in fp32") {
		t.Errorf("--precision bf16 on an fp32 run: err = %v", err)
	}
	if _, _, err := runTrain(t, append([]string{"--out", filepath.Join(dir, "x.safetensors"), "--steps", "1", "--precision", "fp16"}, common...)...); err == nil ||
		!strings.Contains(err.Error(), `--precision "fp16"`) {
		t.Errorf("--precision fp16: err = %v", err)
	}
}
