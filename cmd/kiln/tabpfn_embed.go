package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/internal/outguard"
)

func init() { tabpfnCmd.AddCommand(newTabpfnEmbedCmd()) }

func newTabpfnEmbedCmd() *cobra.Command {
	var (
		fl                  tabpfnFlags
		trainPath, testPath string
		target, outPath     string
	)
	cmd := &cobra.Command{
		Use:   "embed",
		Short: "Write TabPFN's representation of each test row, given the training table as context",
		Long: `embed fits TabPFN on a training table (CSV or Parquet with a class column; the rows become
the model's context, as for predict) and writes, for every row of the test table, the
representation the model computes for it: the row's target token after the last layer, the
vector the classifier decodes into class probabilities (tabpfn.Classifier.Embed). Rows the
model would classify alike get nearby vectors, so they serve as features for other models
(a linear model, clustering, nearest neighbours).

The output is a CSV with one column per dimension (e0, e1, ...) and one row per test row,
in order: the model's width (128 for the shipped model) times --ensemble (default 1 here;
with more members their vectors are side by side). It is written atomically and never over
an input. Embedding the training rows themselves gives vectors that know their own labels
(each row is in its own context); for features of labelled rows, embed them as a test table
against a context of other rows.`,
		Example: `  kiln tabpfn embed --train train.csv --test test.csv --out emb.csv
  kiln tabpfn embed --train train.csv --test new.parquet --target species --ensemble 2 --out emb.csv
  kiln tabpfn embed --train train.csv --test test.csv --model ft.safetensors --out emb.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if trainPath == "" || testPath == "" {
				return errors.New("give --train and --test CSV or Parquet files")
			}
			if err := checkOutputs(cmd, []outguard.File{outFile("--out", outPath)},
				inFile("--train", trainPath), inFile("--test", testPath), inFile("--model", fl.modelPath)); err != nil {
				return err
			}
			if !cmd.Flags().Changed("ensemble") {
				fl.ensemble = 1
			}
			if cmd.Flags().Changed("local-context") && fl.localRows != 0 {
				return errors.New("--local-context: embeddings need one context for every row, so that they compare across rows (0 is the only value)")
			}
			fl.pairwise = 0  // the pairwise classifiers give no embeddings
			fl.localRows = 0 // one context for every row, so that rows' embeddings compare
			train, err := data.Load(trainPath, fl.readOptions(target))
			if err != nil {
				return err
			}
			test, err := data.Load(testPath, fl.testOptions(train, true))
			if err != nil {
				return err
			}
			m, err := fl.load()
			if err != nil {
				return err
			}
			defer m.Release()
			clf, err := fl.classifier(m, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			clf.SetColumns(train.Columns)
			if err := clf.Fit(train.X, train.Y, train.NumClasses()); err != nil {
				return err
			}
			emb, err := clf.Embed(test.X)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := writeEmbeddings(&buf, emb); err != nil {
				return err
			}
			if outPath == "" {
				_, err := cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := writeOutputBytes(outPath, buf.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d embeddings of %d values to %s (context: %d training rows)\n",
				emb.Rows, emb.Cols, outPath, train.Rows())
			return nil
		},
	}
	fl.add(cmd)
	f := cmd.Flags()
	f.StringVar(&trainPath, "train", "", "training data (the context), CSV with a header row or Parquet, with a class column")
	f.StringVar(&testPath, "test", "", "rows to embed, CSV or Parquet, with the same feature columns (the class column is optional)")
	f.StringVar(&target, "target", "", "name of the class column (default: the last column)")
	f.StringVar(&outPath, "out", "", "write the embeddings CSV here instead of standard output (atomically; never over an input)")
	return cmd
}

// writeEmbeddings writes a header e0..e{n-1} and one row of values per embedded row.
func writeEmbeddings(w *bytes.Buffer, emb data.Matrix) error {
	cw := csv.NewWriter(w)
	rec := make([]string, emb.Cols)
	for j := range rec {
		rec[j] = "e" + strconv.Itoa(j)
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for r := 0; r < emb.Rows; r++ {
		for j, v := range emb.Row(r) {
			rec[j] = strconv.FormatFloat(v, 'g', 7, 64)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
