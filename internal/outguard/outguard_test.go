package outguard

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSame(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.csv")
	os.WriteFile(a, []byte("x"), 0o644)
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.csv")
	if err := os.Link(a, hard); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for _, c := range []struct {
		b    string
		want bool
	}{
		{a, true}, {filepath.Join(sub, "..", "a.csv"), true}, {link, true}, {hard, true},
		{filepath.Join(dir, "b.csv"), false}, {"", false},
	} {
		if got := Same(a, c.b); got != c.want {
			t.Errorf("Same(%s, %s) = %v, want %v", a, c.b, got, c.want)
		}
	}
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	if !Same("a.csv", a) {
		t.Error("a relative and an absolute path to one file differ")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	train := filepath.Join(dir, "train.csv")
	os.WriteFile(train, []byte("x"), 0o644)
	link := filepath.Join(dir, "out.csv")
	os.Symlink(train, link)
	in := []File{{"--train", train}, {"--model", ""}}
	var notes bytes.Buffer
	for _, out := range []string{train, link, filepath.Join(dir, ".", "train.csv")} {
		err := Check([]File{{"--out", out}}, in, &notes)
		if err == nil || !strings.Contains(err.Error(), "--train") || !strings.Contains(err.Error(), "input") {
			t.Errorf("--out %s over --train: %v", out, err)
		}
	}
	p := filepath.Join(dir, "p.png")
	if err := Check([]File{{"--out", p}, {"--plot", p}}, in, &notes); err == nil {
		t.Error("two outputs naming one file accepted")
	}
	if err := Check([]File{{"--out", filepath.Join(dir, "missing", "o.csv")}}, in, &notes); err == nil {
		t.Error("an output in a missing directory accepted")
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if err := Check([]File{{"--out", filepath.Join(ro, "o.csv")}}, in, &notes); err == nil || !strings.Contains(err.Error(), "--out") {
			t.Errorf("an unwritable directory: %v", err)
		}
	}
	// A stale temporary file of the output is removed and named; a fresh one is kept.
	out := filepath.Join(dir, "preds.csv")
	stale, fresh := filepath.Join(dir, ".preds.csv.tmp-1"), filepath.Join(dir, ".preds.csv.tmp-2")
	os.WriteFile(stale, []byte("x"), 0o644)
	os.WriteFile(fresh, []byte("x"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	notes.Reset()
	if err := Check([]File{{"--out", out}, {"--plot", ""}}, in, &notes); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temporary file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh temporary file removed")
	}
	if !strings.Contains(notes.String(), stale) {
		t.Errorf("notes %q do not name %s", notes.String(), stale)
	}
}

func TestRefuseExisting(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "run.safetensors")
	if err := RefuseExisting(File{"--out", p}, "use --force"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, nil, 0o644)
	if err := RefuseExisting(File{"--out", p}, "use --force"); err == nil || !strings.Contains(err.Error(), "use --force") {
		t.Fatalf("existing file: %v", err)
	}
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "nowhere"), dangling)
	if err := RefuseExisting(File{"--out", dangling}, "x"); err == nil {
		t.Fatal("a dangling link accepted")
	}
}
