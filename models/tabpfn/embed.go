package tabpfn

import (
	"errors"
	"fmt"

	"github.com/kiln-ml/kiln/data"
)

// embedder is what Embed needs from a model beside scoring: the test rows' final target
// tokens. The chunked scorer of a *Model implements it.
type embedder interface {
	Embeddings(in Input) ([]float64, error)
}

// EmbeddingWidth returns the number of values Embed returns per row: the model's width
// times the ensemble members Fit built.
func (c *Classifier) EmbeddingWidth() int { return c.cfg.Width * len(c.members) }

// Embed returns a representation of each row of X given the fitted training table as
// context: for every ensemble member, the row's target token after the model's last layer
// (the vector the decoder turns into class logits), concatenated over the members in order,
// so an X.Rows × EmbeddingWidth() matrix. The token is what the row attends to in the
// labelled training rows, so rows that the model would classify alike are close; the
// embeddings are features for other models (a linear model on them, clustering). Like
// PredictProba it is deterministic for a seed and safe for concurrent use once Fit has
// returned. The pairwise classifiers (WithPairwise) take no part, and a classifier that
// predicts from local contexts (WithLocalContexts) has none to give.
func (c *Classifier) Embed(X data.Matrix) (out data.Matrix, err error) {
	defer recoverTo(&err)
	if !c.fitted {
		return data.Matrix{}, errors.New("tabpfn: Embed called before Fit")
	}
	if err := checkMatrix("Embed", X); err != nil {
		return data.Matrix{}, err
	}
	if X.Cols != c.nCols {
		return data.Matrix{}, fmt.Errorf("tabpfn: Embed: X has %d columns but the classifier was fitted on %d", X.Cols, c.nCols)
	}
	if c.local != nil || c.stacked != nil {
		return data.Matrix{}, errors.New("tabpfn: Embed: the classifier predicts each row from a context of its own, so rows' embeddings would not compare: fit it with WithLocalContexts(0)")
	}
	e, ok := c.model.(embedder)
	if !ok {
		return data.Matrix{}, errors.New("tabpfn: Embed: this classifier's model gives no embeddings")
	}
	E := c.cfg.Width
	out = data.NewMatrix(X.Rows, c.EmbeddingWidth())
	for i, m := range c.members {
		in, err := m.input(X)
		if err != nil {
			return data.Matrix{}, err
		}
		v, err := e.Embeddings(in)
		if err != nil {
			return data.Matrix{}, fmt.Errorf("tabpfn: ensemble member %d (%s): %w", i, m.variant, err)
		}
		for r := 0; r < X.Rows; r++ {
			copy(out.Data[r*out.Cols+i*E:r*out.Cols+(i+1)*E], v[r*E:(r+1)*E])
		}
	}
	return out, nil
}
