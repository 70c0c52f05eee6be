package corpus

import (
	"container/list"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Options configures Open.
type Options struct {
	// Pattern selects the table files in the directory (filepath.Match syntax); empty means
	// DefaultPattern.
	Pattern string
	// Limits bound each table; the zero value means DefaultLimits.
	Limits Limits
	// Seed fixes which rows and columns are kept of a table larger than the limits.
	Seed uint64
	// Guard, when not nil, refuses tables that copy an evaluation table.
	Guard *Guard
	// Warn receives one message per file that cannot be used, naming the file; nil discards.
	Warn func(msg string)
	// CacheCells bounds the values of the decoded tables kept in memory (8 bytes each);
	// 0 means DefaultCacheCells.
	CacheCells int
}

// DefaultPattern matches the tables of a corpus exported as <package>__<dataset>.csv,
// leaving out its other files (MANIFEST.csv).
const DefaultPattern = "*__*.csv"

// DefaultCacheCells keeps up to 8M decoded values (64 MiB) in memory.
const DefaultCacheCells = 8 << 20

// Corpus is a directory of tables, loaded on demand. It is safe for concurrent use.
type Corpus struct {
	dir   string
	files []string
	opts  Options

	mu     sync.Mutex
	bad    map[int]error
	cache  map[int]*list.Element // of *cached
	lru    list.List
	cells  int
	loaded int // tables decoded so far (cache misses), for tests
}

type cached struct {
	i int
	t *Table
}

// Open lists the table files of dir (sorted by name). It reads none of them: a file is read
// when Table first asks for it. It is an error when dir cannot be read or holds no table.
func Open(dir string, opts Options) (*Corpus, error) {
	if opts.Pattern == "" {
		opts.Pattern = DefaultPattern
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if err := opts.Limits.validate(); err != nil {
		return nil, err
	}
	if opts.CacheCells <= 0 {
		opts.CacheCells = DefaultCacheCells
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, opts.Pattern))
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	files = slices.DeleteFunc(files, func(p string) bool {
		st, err := os.Stat(p)
		return err != nil || !st.Mode().IsRegular()
	})
	if len(files) == 0 {
		return nil, fmt.Errorf("corpus: no file in %s matches %s", dir, opts.Pattern)
	}
	slices.Sort(files)
	return &Corpus{dir: dir, files: files, opts: opts, bad: map[int]error{}, cache: map[int]*list.Element{}}, nil
}

// Len returns the number of table files.
func (c *Corpus) Len() int { return len(c.files) }

// Path returns the path of table i.
func (c *Corpus) Path(i int) string { return c.files[i] }

// Table returns table i, from the cache or read from its file. A file that cannot be used
// (unreadable, unparseable, too few usable columns, refused by the guard) returns its
// error, which is also sent to Options.Warn the first time; later calls return the same
// error without reading the file again. The table must not be modified: it is shared.
func (c *Corpus) Table(i int) (*Table, error) {
	if i < 0 || i >= len(c.files) {
		return nil, fmt.Errorf("corpus: table %d of %d", i, len(c.files))
	}
	c.mu.Lock()
	if err, ok := c.bad[i]; ok {
		c.mu.Unlock()
		return nil, err
	}
	if e, ok := c.cache[i]; ok {
		c.lru.MoveToFront(e)
		t := e.Value.(*cached).t
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()

	// Read outside the lock: other tables stay available meanwhile. Two goroutines may read
	// the same file at once; both get equal tables.
	t, err := LoadFile(c.files[i], c.opts.Limits, c.opts.Seed, c.opts.Guard)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if _, seen := c.bad[i]; !seen {
			c.bad[i] = err
			if c.opts.Warn != nil {
				c.opts.Warn(fmt.Sprintf("skipping corpus table: %v", err))
			}
		}
		return nil, c.bad[i]
	}
	if e, ok := c.cache[i]; ok { // another goroutine loaded it meanwhile
		return e.Value.(*cached).t, nil
	}
	c.loaded++
	c.cache[i] = c.lru.PushFront(&cached{i: i, t: t})
	c.cells += t.Cells()
	for c.cells > c.opts.CacheCells && c.lru.Len() > 1 {
		old := c.lru.Back()
		o := old.Value.(*cached)
		c.lru.Remove(old)
		delete(c.cache, o.i)
		c.cells -= o.t.Cells()
	}
	return t, nil
}

// Bad returns the number of tables found unusable so far.
func (c *Corpus) Bad() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.bad)
}
