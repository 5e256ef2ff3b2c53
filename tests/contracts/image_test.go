package contracts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestContainerImage builds the image as the README says (make image) and
// inspects the OCI archive: entrypoint, user, labels, exposed port, and the
// binary in the layer, which must run (issue #13, item 1).
func TestContainerImage(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed: make test-deps (as root) installs it")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "--no-print-directory", "image")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	blobs := readOCIArchive(t, filepath.Join(root, "bin", "cpra-agent-image.tar"))
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	mustJSON(t, blobs["index.json"], &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index lists %d manifests, want 1", len(index.Manifests))
	}
	if ref := index.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; !strings.HasSuffix(ref, "0.1.0") {
		t.Errorf("image reference %q, want the chart's appVersion tag", ref)
	}
	var manifest struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct {
			Digest    string `json:"digest"`
			MediaType string `json:"mediaType"`
		} `json:"layers"`
	}
	mustJSON(t, blob(t, blobs, index.Manifests[0].Digest), &manifest)
	var config struct {
		Config struct {
			User         string              `json:"User"`
			Entrypoint   []string            `json:"Entrypoint"`
			ExposedPorts map[string]struct{} `json:"ExposedPorts"`
			Labels       map[string]string   `json:"Labels"`
		} `json:"config"`
	}
	mustJSON(t, blob(t, blobs, manifest.Config.Digest), &config)
	c := config.Config
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != "/cpra-agent" {
		t.Errorf("user %q, entrypoint %q; want 65532:65532 and /cpra-agent", c.User, c.Entrypoint)
	}
	if _, ok := c.ExposedPorts["9469/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 9469/tcp", c.ExposedPorts)
	}
	for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version", "org.opencontainers.image.revision"} {
		if c.Labels[l] == "" {
			t.Errorf("label %s missing (labels %v)", l, c.Labels)
		}
	}
	files := map[string][]byte{}
	for _, l := range manifest.Layers {
		for name, data := range layerFiles(t, blob(t, blobs, l.Digest), l.MediaType) {
			files[name] = data
		}
	}
	for _, want := range []string{"cpra-agent", "etc/ssl/certs/ca-certificates.crt"} {
		if len(files[want]) == 0 {
			t.Errorf("%s missing from the image's layers", want)
		}
	}
	bin := filepath.Join(t.TempDir(), "cpra-agent")
	if err := os.WriteFile(bin, files["cpra-agent"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cpra-agent") {
		t.Errorf("the image's binary --version: %v\n%s", err, out)
	}
}

func readOCIArchive(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return tarFiles(t, f)
}

func blob(t *testing.T, blobs map[string][]byte, digest string) []byte {
	t.Helper()
	data, ok := blobs["blobs/"+strings.Replace(digest, ":", "/", 1)]
	if !ok {
		t.Fatalf("blob %s not in the archive", digest)
	}
	return data
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %.200s: %v", data, err)
	}
}

// layerFiles reads a layer, gzip-compressed or not.
func layerFiles(t *testing.T, data []byte, mediaType string) map[string][]byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if strings.HasSuffix(mediaType, "gzip") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	return tarFiles(t, r)
}

// tarFiles returns the regular files of a tar stream by name, without a
// leading "./" or "/".
func tarFiles(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")] = data
		}
	}
}
