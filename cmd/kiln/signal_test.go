package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// mainEnv makes the test binary run kiln's main instead of the tests, so a test can run the
// real command line in a subprocess and signal it.
const mainEnv = "KILN_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// kilnProcess starts kiln with args in a subprocess, its standard error on a pipe.
func kilnProcess(t *testing.T, args ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, stderr
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	require.True(t, errors.As(err, &ee), "wait: %v", err)
	return ee.ExitCode()
}

// SIGTERM during `kiln tabpfn train`: the run saves its checkpoint and exits 143; the
// checkpoint is valid and the run resumes from it.
func TestTrainSIGTERMSavesAndExits143(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.safetensors")
	cmd, stderr := kilnProcess(t, "tabpfn", "train", "--out", run, "--config", tinyTrainConfig, "--steps", "100000000",
		"--batch", "2", "--max-rows", "40", "--max-features", "4", "--every", "0", "--workers", "1")
	var log bytes.Buffer
	sc := bufio.NewScanner(stderr)
	timeout := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timeout.Stop()
	signalled := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if !signalled && strings.HasPrefix(sc.Text(), "step 3/") {
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			signalled = true
		}
	}
	require.True(t, signalled, "training never reached step 3:\n%s", log.String())
	code := exitCode(t, cmd.Wait())
	require.Equal(t, 143, code, "exit status after SIGTERM; stderr:\n%s", log.String())
	require.Contains(t, log.String(), "SIGTERM received")
	require.Contains(t, log.String(), "interrupted at step")

	tr, err := tabpfn.Resume(device.MustGet("cpu"), run, 0)
	require.NoError(t, err, "the checkpoint of an interrupted run does not load")
	require.GreaterOrEqual(t, tr.Step, 3)
	noTempFiles(t, dir)
	next := strconv.Itoa(tr.Step + 1)
	out, errOut, err := runTrain(t, "--out", run, "--resume", "--steps", next)
	require.NoError(t, err, errOut)
	require.Contains(t, out, "trained to step "+next)
}

// SIGINT during a command that does not stop by itself (`kiln bench`, signalled once it
// reports its first case): it exits 130 and writes none of its outputs.
func TestSIGINTExits130WithoutOutputs(t *testing.T) {
	dir := t.TempDir()
	plot := filepath.Join(dir, "ratios.png")
	cmd, stderr := kilnProcess(t, "bench", "--only", "gemm,attention,layernorm,softmax", "--plot", plot)
	timeout := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timeout.Stop()
	var log bytes.Buffer
	sc := bufio.NewScanner(stderr)
	signalled := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if !signalled && strings.Contains(sc.Text(), "timing") {
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			signalled = true
		}
	}
	require.True(t, signalled, "bench never started:\n%s", log.String())
	code := exitCode(t, cmd.Wait())
	require.Equal(t, 130, code, "exit status after SIGINT; stderr:\n%s", log.String())
	require.Contains(t, log.String(), "SIGINT received")
	_, err := os.Stat(plot)
	require.True(t, os.IsNotExist(err), "an interrupted command wrote its output")
	noTempFiles(t, dir)
}
