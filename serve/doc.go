// Package serve answers TabPFN predictions over HTTP: a client sends a training table and
// test rows, the server fits a fresh classifier on the training rows (TabPFN's fit is
// in-context, no gradient steps) and returns one probability row per test row.
//
// # Endpoints
//
//	POST /v1/predict  a training table and test rows → class labels, probabilities, warnings
//	GET  /healthz     liveness: the process answers
//	GET  /readyz      readiness: the model is loaded and the server is not shutting down
//	GET  /v1/model    the model's configuration, parameter count, device and the limits
//
// A prediction request is either JSON (Content-Type application/json):
//
//	{
//	  "task": "classification",            // optional; the only task so far
//	  "target": "species",                 // optional; default: the training table's last column
//	  "train": {"columns": ["a", "b", "species"], "rows": [[1.5, "red", "x"], [2, null, "y"]]},
//	  "test":  {"columns": ["a", "b"], "rows": [[1.7, "red"]]},   // columns optional: the
//	                                       // training table's feature columns, in order
//	  "ensemble": 4,                       // optional; 0 or absent: automatic
//	  "pairwise": 2,                       // optional; members per pair of classes, 0: off,
//	                                       // absent: automatic
//	  "seed": 0                            // optional
//	}
//
// or multipart/form-data with the files "train" and "test" (CSV with a header row) and the
// optional fields "target", "task", "ensemble", "pairwise" and "seed". A JSON cell is a number,
// a string, true/false or null (missing); every cell goes through the loader the command line
// uses (package data), so kinds are inferred the same way, strings such as "NA" are missing as
// in a CSV file, and the test table is read with the training table as its schema.
//
// The answer is
//
//	{"task": "classification", "target": "species", "classes": ["x", "y"],
//	 "predictions": ["x"], "probabilities": [[0.93, 0.07]], "warnings": [],
//	 "ensemble": 4, "pairs": 0, "seed": 0}
//
// with probabilities[i][j] the probability of classes[j] for test row i, "ensemble" and
// "pairs" the members and class pairs the classifier fitted.
//
// # Errors and limits
//
// Every error is JSON {"error": "..."}: 400 for bad input (naming the field, row or column),
// 404 and 405 for a wrong path or method, 413 when the body or a table exceeds a limit
// (Config: MaxBody, MaxRows, MaxColumns, MaxCells), 415 for a content type other than the
// two above, 503 with Retry-After when MaxConcurrent predictions are running and Queue more
// are waiting, or when a request's deadline (Timeout) passes while it waits, 504 when it
// passes while the prediction computes, and 500 only for a fault of the server.
//
// Predictions share one read-only *tabpfn.Model and each request gets its own Classifier.
// Computations cannot be interrupted: a request that times out is answered with 504 at once,
// but its computation keeps its slot until it finishes, so MaxConcurrent bounds the work
// actually running.
//
// Server adds the HTTP timeouts, structured request logs (log/slog) and graceful shutdown:
// when its context ends, /readyz fails, the listener closes, and requests in flight finish
// within the grace period.
package serve
