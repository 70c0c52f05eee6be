package flagbound

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Sizes given on the command line (matrix dimensions, table shapes, batch sizes) imply
// memory. A command estimates the bytes its sizes need and calls CheckMemory before it
// allocates, so a size that cannot fit fails at once with the estimate rather than in
// makeslice or the out-of-memory killer.
//
// The limit is MemoryFraction of the physical memory (MemTotal of /proc/meminfo), or
// FallbackLimit where that cannot be read; the environment variable KILN_MEMORY_LIMIT
// (bytes, or a number with a K, M, G or T suffix in powers of 1024) replaces it.

// MemoryFraction is the share of physical memory one command may plan to use.
const MemoryFraction = 0.75

// FallbackLimit is the limit where the physical memory is unknown.
const FallbackLimit = 16 << 30

// MemoryEnv names the environment variable that overrides the limit.
const MemoryEnv = "KILN_MEMORY_LIMIT"

var physical = sync.OnceValue(readMemTotal)

// readMemTotal returns the physical memory in bytes, 0 when unknown.
func readMemTotal() float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// MemoryLimit returns the limit in bytes and where it comes from.
func MemoryLimit() (float64, string, error) {
	if s := strings.TrimSpace(os.Getenv(MemoryEnv)); s != "" {
		b, err := ParseBytes(s)
		if err != nil {
			return 0, "", fmt.Errorf("%s=%q: %w", MemoryEnv, s, err)
		}
		return b, MemoryEnv, nil
	}
	if p := physical(); p > 0 {
		return MemoryFraction * p, fmt.Sprintf("%.0f%% of the %s of physical memory; %s overrides", 100*MemoryFraction, FormatBytes(p), MemoryEnv), nil
	}
	return FallbackLimit, fmt.Sprintf("physical memory unknown; %s overrides", MemoryEnv), nil
}

// ParseBytes reads "123", "1.5G", "512M", "2T" (powers of 1024).
func ParseBytes(s string) (float64, error) {
	mult := 1.0
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			mult = 1 << 10
		case "M":
			mult = 1 << 20
		case "G":
			mult = 1 << 30
		case "T":
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a positive byte count such as 8G")
	}
	return v * mult, nil
}

// FormatBytes writes a byte count in binary units: "1.5 GiB".
func FormatBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.3g %s", b, units[i])
}

// CheckMemory refuses a request whose estimated size exceeds the limit; what names the
// request in the error ("linalg sparse --n 100000"). A NaN or infinite estimate (an
// overflowing product of sizes) is refused too.
func CheckMemory(what string, bytes float64) error { return CheckDeviceMemory(what, bytes, "", 0) }

// CheckDeviceMemory is CheckMemory for data that lives on an accelerator with devBytes of
// memory (0: unknown, or the host's memory): the limit is MemoryFraction of devBytes unless
// KILN_MEMORY_LIMIT is set.
func CheckDeviceMemory(what string, bytes float64, device string, devBytes int64) error {
	limit, why, err := MemoryLimit()
	if err != nil {
		return err
	}
	if devBytes > 0 && os.Getenv(MemoryEnv) == "" {
		limit = MemoryFraction * float64(devBytes)
		why = fmt.Sprintf("%.0f%% of the %s of %s; %s overrides", 100*MemoryFraction, FormatBytes(float64(devBytes)), device, MemoryEnv)
	}
	if bytes <= limit && !math.IsNaN(bytes) {
		return nil
	}
	est := "more than can be counted"
	if !math.IsInf(bytes, 0) && !math.IsNaN(bytes) {
		est = "about " + FormatBytes(bytes)
	}
	return fmt.Errorf("%s needs %s (estimate), over the memory limit of %s (%s)", what, est, FormatBytes(limit), why)
}
