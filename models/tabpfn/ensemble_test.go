package tabpfn

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data/preprocess"
)

// memberStatistics gives a regressor's members of codes every statistic its members of
// indicators have and every categorical column of 3 or more categories its mean target; a
// classifier's members of codes get the statistic only beside a column of more categories
// than WithOneHot's; levels 0 gives none.
func TestMemberStatistics(t *testing.T) {
	for _, c := range []struct {
		name                   string
		levels                 int
		indicators, regression bool
		want                   preprocess.Config
	}{
		{"regression, indicators", 16, true, true, preprocess.Config{TargetStatistics: true, KeyStatistics: 16}},
		{"regression, codes", 16, false, true, preprocess.Config{CodeStatistics: 2, KeyStatistics: 16}},
		{"classification, indicators", 16, true, false, preprocess.Config{TargetStatistics: true, KeyStatistics: 16}},
		{"classification, codes", 16, false, false, preprocess.Config{CodeStatistics: 16}},
		{"regression, codes, no one-hot", 0, false, true, preprocess.Config{}},
		{"classification, indicators, no one-hot", 0, true, false, preprocess.Config{}},
	} {
		var got preprocess.Config
		memberStatistics(&got, c.levels, c.indicators, c.regression)
		require.Equal(t, c.want, got, c.name)
	}
}
