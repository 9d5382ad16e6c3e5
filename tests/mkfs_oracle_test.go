package tests

import (
	"bytes"
	"cowfs/testmount"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

// TestMkfsOracle makes an image for every node size × checksum, then asks
// the oracles: btrfs check (both modes) must find no error; the kernel must
// mount it, take a directory tree and files, and leave an image btrfs check
// still finds clean (data checksums verified too) and that reads back
// identically on a read-only mount.
//
// The xxhash and sha256 cases run the cowfs binary on an 80 MiB image (so
// the 64 MiB superblock mirror is written); the crc32c and blake2b cases
// call the library on a disk.FileDevice at the minimum size.
func TestMkfsOracle(t *testing.T) {
	needBtrfsProgs(t)
	bin := buildCowfs(t)
	for _, ns := range []uint32{4096, 8192, 16384, 32768, 65536} {
		for _, cs := range []format.CsumType{format.CsumCRC32C, format.CsumXXHash, format.CsumSHA256, format.CsumBlake2b} {
			name := fmt.Sprintf("%dK-%s", ns/1024, cs)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				img := filepath.Join(t.TempDir(), "fs.img")
				if cs == format.CsumXXHash || cs == format.CsumSHA256 {
					mkfsWithBinary(t, bin, img, ns, cs)
				} else {
					mkfsWithLibrary(t, img, ns, cs)
				}
				btrfsCheck(t, img)
				btrfsCheck(t, img, "--mode=lowmem")
				cowfsFsckClean(t, bin, img)
				needKernelMount(t)
				kernelRoundTrip(t, img, seedOf(name))
				// The kernel-modified image (BIG_METADATA, DEV_STATS, UUID
				// tree, new chunks) must read cleanly with our tools too.
				cowfsFsckClean(t, bin, img)
				r := runCmd(t, bin, "dump-tree", img)
				require.Equal(t, 0, r.Code, "cowfs dump-tree: %s", r.Stderr)
				require.Contains(t, r.Stdout, "fs tree key (FS_TREE ROOT_ITEM 0)")
			})
		}
	}
}

func seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// mkfsWithBinary runs `cowfs mkfs` to create a new 80 MiB image.
func mkfsWithBinary(t *testing.T, bin, img string, ns uint32, cs format.CsumType) {
	csum := map[format.CsumType]string{format.CsumXXHash: "xxhash", format.CsumSHA256: "sha256"}[cs]
	r := runCmd(t, bin, "mkfs", "--size", "80M", "--nodesize", fmt.Sprintf("%dK", ns/1024),
		"--csum", csum, "--label", "oracle", img)
	require.Equal(t, 0, r.Code, "cowfs mkfs: %s", r.Stderr)
	require.Contains(t, r.Stdout, "Label:              oracle")
	require.Contains(t, r.Stdout, fmt.Sprintf("Node size:          %d", ns))
}

// mkfsWithLibrary calls mkfs.Make on a FileDevice of the minimum size.
func mkfsWithLibrary(t *testing.T, img string, ns uint32, cs format.CsumType) {
	o := mkfs.DefaultOptions()
	o.NodeSize, o.Csum = ns, cs
	dev, err := disk.OpenFile(img, disk.FileOptions{Create: true, Size: mkfs.MinSize(ns)})
	require.NoError(t, err)
	res, err := mkfs.Make(dev, o)
	require.NoError(t, dev.Close())
	require.NoError(t, err)
	require.EqualValues(t, mkfs.MinSize(ns), res.TotalBytes)
}

// workload is the tree the kernel writes: nested directories, an inline
// 19-byte file, a 200 KiB file and a 6000-byte file.
func workload(seed uint64) map[string][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	return map[string][]byte{
		"dir/inline.txt":             []byte("nineteen bytes: ok\n"),
		"dir/big.bin":                data(200 << 10),
		"small.bin":                  data(6000),
		"dir/sub/deep/nested.bin":    data(4096),
		"dir/sub/deep/er/leaf.txt":   []byte("leaf\n"),
		"another/dir/with/many/1.db": data(12345),
	}
}

// kernelRoundTrip writes the workload through the kernel, checks the image,
// and reads it back read-only.
func kernelRoundTrip(t *testing.T, img string, seed uint64) {
	files := workload(seed)
	mnt, umount := mountImage(t, img, false)
	for rel, content := range files {
		p := filepath.Join(mnt, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, content, 0o644))
	}
	require.NoError(t, testmount.Sync(mnt))
	umount()
	btrfsCheck(t, img, "--check-data-csum")
	btrfsCheck(t, img, "--mode=lowmem")

	mnt, umount = mountImage(t, img, true)
	for rel, want := range files {
		got, err := os.ReadFile(filepath.Join(mnt, rel))
		require.NoError(t, err, rel)
		require.True(t, bytes.Equal(want, got), "%s: content differs after remount", rel)
	}
	umount()
	t.Logf("kernel wrote %d files into %s; check clean; read back identical", len(files), filepath.Base(img))
}

// cowfsFsckClean runs `cowfs fsck` and requires a clean report, exit 0.
func cowfsFsckClean(t *testing.T, bin, img string) {
	t.Helper()
	r := runCmd(t, bin, "fsck", img)
	require.Equal(t, 0, r.Code, "cowfs fsck %s:\n%s%s", img, r.Stdout, r.Stderr)
	require.Contains(t, r.Stdout, "no problems found")
}

// TestMkfsCommandBadInput: impossible parameters exit 2 with one line on
// stderr and write nothing; an existing btrfs without --force exits 1 and
// is left alone. No oracle is needed.
func TestMkfsCommandBadInput(t *testing.T) {
	bin := buildCowfs(t)
	t.Run("bad flags create nothing", func(t *testing.T) { badFlagsCreateNothing(t, bin) })
	t.Run("existing file untouched", func(t *testing.T) { existingFileUntouched(t, bin) })
	t.Run("existing btrfs needs --force", func(t *testing.T) { existingBtrfsNeedsForce(t, bin) })
}

func badFlagsCreateNothing(t *testing.T, bin string) {
	img := filepath.Join(t.TempDir(), "new.img")
	for name, args := range map[string][]string{
		"nodesize 3000":     {"--size", "64M", "--nodesize", "3000"},
		"nodesize 128K":     {"--size", "64M", "--nodesize", "128K"},
		"size too small":    {"--size", "10M"},
		"size too small 64": {"--size", "40M", "--nodesize", "64K"},
		"bad size":          {"--size", "12X"},
		"unknown csum":      {"--size", "64M", "--csum", "md5"},
		"sectorsize 512":    {"--size", "64M", "--sectorsize", "512"},
		"label too long":    {"--size", "64M", "--label", strings.Repeat("x", 256)},
		"no size":           {},
		"unknown flag":      {"--size", "64M", "--frobnicate"},
		"two images":        {"--size", "64M", img + ".2"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCmd(t, bin, append(append([]string{"mkfs"}, args...), img)...)
			requireUsageFailure(t, r)
			_, err := os.Stat(img)
			require.True(t, os.IsNotExist(err), "image created despite bad input")
		})
	}
}

// existingFileUntouched: bad parameters leave an existing file's bytes and
// length alone, even when --size would have grown it.
func existingFileUntouched(t *testing.T, bin string) {
	img := filepath.Join(t.TempDir(), "junk.img")
	require.NoError(t, os.WriteFile(img, bytes.Repeat([]byte("junk"), 8<<20), 0o644))
	sum := fileSum(t, img)
	for _, args := range [][]string{
		{"--nodesize", "3000"},
		{"--csum", "nope"},
		{"--size", "64M", "--nodesize", "3000"},
		{"--size", "1T", "--nodesize", "3000"},
	} {
		requireUsageFailure(t, runCmd(t, bin, append(append([]string{"mkfs"}, args...), img)...))
		require.Equal(t, sum, fileSum(t, img), "file changed by %v", args)
	}
	// 32 MiB of junk is no filesystem and a valid size: mkfs takes it whole.
	r := runCmd(t, bin, "mkfs", img)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "Filesystem size:    32MiB")
}

// existingBtrfsNeedsForce: exit 1, one line, file unchanged (not even grown)
// without --force; with it, the file is grown to --size and remade.
func existingBtrfsNeedsForce(t *testing.T, bin string) {
	img := filepath.Join(t.TempDir(), "fs.img")
	require.Equal(t, 0, runCmd(t, bin, "mkfs", "--size", "64M", img).Code)
	sum := fileSum(t, img)
	for _, args := range [][]string{{}, {"--size", "128M"}} {
		r := runCmd(t, bin, append(append([]string{"mkfs"}, args...), img)...)
		require.Equal(t, 1, r.Code, "stderr: %s", r.Stderr)
		require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "one line: %q", r.Stderr)
		require.Contains(t, r.Stderr, "already holds a btrfs filesystem")
		require.Equal(t, sum, fileSum(t, img), "file changed by %v", args)
	}
	r := runCmd(t, bin, "mkfs", "--force", "--size", "128M", img)
	require.Equal(t, 0, r.Code, r.Stderr)
	st, err := os.Stat(img)
	require.NoError(t, err)
	require.EqualValues(t, 128<<20, st.Size(), "grown to --size")
}

func requireUsageFailure(t *testing.T, r cmdResult) {
	t.Helper()
	require.Equal(t, 2, r.Code, "stdout %q stderr %q", r.Stdout, r.Stderr)
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "one line on stderr: %q", r.Stderr)
	require.Empty(t, r.Stdout)
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}
