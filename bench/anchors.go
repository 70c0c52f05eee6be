package bench

import _ "embed"

// NumpyAnchors is bench/anchors/numpy_anchors.py, built into the binary so that `kiln bench`
// runs the anchors that match its cases wherever it is run from. The file in the repository
// stays the one copy; this is it at build time.
//
//go:embed anchors/numpy_anchors.py
var NumpyAnchors []byte
