package scaling

import (
	"github.com/kiln-ml/kiln/internal/shareddata"
	"math"
	"os"
	"strings"
	"testing"
)

func TestReadCSVComputeColumn(t *testing.T) {
	in := "Model Size,Training FLOP,loss\n1e8,6e17,3.5\n2e9,1.2e21,2.4\n"
	runs, err := ReadCSV(strings.NewReader(in), DefaultCSVOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs", len(runs))
	}
	// D = C/(6N): 6e17/(6·1e8) = 1e9, 1.2e21/(6·2e9) = 1e11.
	if relErr(runs[0].D, 1e9) > 1e-15 || relErr(runs[1].D, 1e11) > 1e-15 {
		t.Errorf("D = %g, %g; want 1e9, 1e11", runs[0].D, runs[1].D)
	}
	if runs[1].N != 2e9 || runs[1].Loss != 2.4 {
		t.Errorf("run 1 = %+v", runs[1])
	}
}

func TestReadCSVTokensColumn(t *testing.T) {
	in := "n,tokens,L\n1e8,5e9,3.1\n"
	runs, err := ReadCSV(strings.NewReader(in), CSVOptions{NCol: "n", DCol: "tokens", LossCol: "L"})
	if err != nil {
		t.Fatal(err)
	}
	if runs[0] != (Run{N: 1e8, D: 5e9, Loss: 3.1}) {
		t.Errorf("got %+v", runs[0])
	}
}

func TestReadCSVErrors(t *testing.T) {
	def := DefaultCSVOptions()
	cases := []struct {
		name, in string
		opt      CSVOptions
		want     string
	}{
		{"zero N", "Model Size,Training FLOP,loss\n0,6e17,3.5\n", def, "line 2"},
		{"negative loss", "Model Size,Training FLOP,loss\n1e8,6e17,3.5\n1e8,6e17,-1\n", def, "line 3"},
		{"NaN loss", "Model Size,Training FLOP,loss\n1e8,6e17,NaN\n", def, "positive and finite"},
		{"Inf compute", "Model Size,Training FLOP,loss\n1e8,Inf,3\n", def, "positive and finite"},
		{"not a number", "Model Size,Training FLOP,loss\n1e8,lots,3\n", def, "not a number"},
		{"missing column", "size,Training FLOP,loss\n1e8,6e17,3\n", def, `no column "Model Size"`},
		{"short row", "Model Size,Training FLOP,loss\n1e8,6e17\n", def, "missing column"},
		{"empty", "", def, "empty"},
		{"header only", "Model Size,Training FLOP,loss\n", def, "no data rows"},
		{"both C and D", "a,b,c\n", CSVOptions{NCol: "a", CCol: "b", DCol: "b", LossCol: "c"}, "exactly one"},
	}
	for _, c := range cases {
		_, err := ReadCSV(strings.NewReader(c.in), c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestValidateRuns(t *testing.T) {
	good := Run{N: 1e8, D: 1e9, Loss: 3}
	if err := ValidateRuns([]Run{good, good, good, good}); err == nil || !strings.Contains(err.Error(), "at least 5") {
		t.Errorf("4 runs: got %v", err)
	}
	for _, bad := range []Run{{N: -1, D: 1e9, Loss: 3}, {N: 1e8, D: 0, Loss: 3}, {N: 1e8, D: 1e9, Loss: math.NaN()}, {N: math.Inf(1), D: 1e9, Loss: 3}} {
		runs := []Run{good, good, good, good, good, bad}
		if err := ValidateRuns(runs); err == nil || !strings.Contains(err.Error(), "run 5") {
			t.Errorf("%+v: got %v", bad, err)
		}
		if _, err := Fit(runs, FitOptions{}); err == nil {
			t.Errorf("Fit accepted %+v", bad)
		}
	}
}

func TestDropHighest(t *testing.T) {
	runs := []Run{{1, 1, 3}, {2, 2, 5}, {3, 3, 1}, {4, 4, 4}, {5, 5, 2}}
	got, err := DropHighest(runs, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{{1, 1, 3}, {3, 3, 1}, {5, 5, 2}} // 5 and 4 dropped, order kept
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := DropHighest(runs, 5); err == nil {
		t.Error("dropping every run should be an error")
	}
	if _, err := DropHighest(runs, -1); err == nil {
		t.Error("negative k should be an error")
	}
}

// chinchillaCSV finds ../shared/data/scaling/chinchilla_svg_extracted.csv relative to the
// module root, or skips.
func chinchillaCSV(t testing.TB) []Run {
	t.Helper()
	path := shareddata.Require(t, "scaling", "chinchilla_svg_extracted.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("Chinchilla data absent: %v", err)
	}
	defer f.Close()
	runs, err := ReadCSV(f, DefaultCSVOptions())
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func TestChinchillaCSV(t *testing.T) {
	runs := chinchillaCSV(t)
	// Besiroglu et al. 2024 extract 245 runs and keep 240 after dropping the 5 highest losses.
	if len(runs) != 245 {
		t.Fatalf("%d runs, want 245", len(runs))
	}
	kept, err := DropHighest(runs, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 240 {
		t.Fatalf("%d runs kept, want 240", len(kept))
	}
}
