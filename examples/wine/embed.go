// Package wine carries the UCI wine recognition dataset (178 wines, 13 chemical measurements,
// 3 cultivars) inside the kiln binary, so demos and examples run without any download.
//
// Source: UCI Machine Learning Repository, "Wine" (Forina et al.), in the copy scikit-learn
// ships as load_wine; licensed CC BY 4.0. See README.md in this folder.
package wine

import _ "embed"

// CSV is the dataset as CSV with a header row: 13 numeric feature columns and a last column
// "target" holding the class name (class_0, class_1, class_2). Read it with
// data.ReadCSV(bytes.NewReader(wine.CSV), data.Options{}).
//
//go:embed wine.csv
var CSV []byte
