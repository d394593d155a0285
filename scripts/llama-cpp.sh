# Sourced by scripts/bench-llama and scripts/llama-server: llama.cpp's own tools built from the
# llama.cpp that the llama-cpp-python source distribution vendors (vendor/llama.cpp), at the
# version whose llama.cpp is the closest to the one llama-cpp-sys-2 vendors for Quill:
# llama-cpp-python 0.3.36 carries llama.cpp 0c1e57098 (ggml 0.25.3, llama 0.5.0), llama-cpp-sys-2
# 0.1.160 a slightly later one (ggml 0.26.0, llama 0.6.0). Between the two, the CPU code that a
# llama-architecture model runs is the same but for one change: llamafile's sgemm learned to take
# a remainder of k on x86 (partial loads), which only f32/f16 matrix products with an inner size
# that is not a multiple of the vector width use. The rest is new architectures, mixed
# token/embedding batches and a buffer allocation refactor. No newer llama-cpp-python is
# published; when llama-cpp-sys-2 is bumped, set VERSION, SHA256 and LLAMA_COMMIT to the
# llama-cpp-python whose vendored llama.cpp matches it best.
#
# Built like Quill's llama.cpp: Release, GGML_NATIVE (Quill builds with -C target-cpu=native),
# OpenMP, static, CPU backend only, and AMX kernels off (.cargo/config.toml says why).
#
# The caller sets: root (where the download, the source and the build go in build-$VERSION),
# targets (the cmake targets, e.g. "llama-bench"), extra_cmake_args (an array, may be empty),
# and say/die (how it reports). It gets: src (the source), and the targets built in
# $build/bin/. A second run with the same flags builds nothing; other flags build afresh.

VERSION=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
SDIST=llama_cpp_python-$VERSION.tar.gz
LLAMA_COMMIT=0c1e57098 # the llama.cpp commit it vendors (its changelog), for the tools' build_commit

# Absolute: pip runs the stand-in backend below from inside the unpacked sdist.
case $root in /*) ;; *) root=$PWD/$root ;; esac
src=$root/llama.cpp-$VERSION
build=$root/build-$VERSION
cores=${cores:-$(nproc)}

command -v python3 >/dev/null || die "python3 is needed: run 'make deps' (scripts/install-deps)"

# --- llama.cpp's source, from the llama-cpp-python source distribution -----------------------

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

fetch_sdist() {
  local tmp stub
  tmp=$(mktemp -d "$root/.fetch.XXXXXX")
  # pip reads an sdist's metadata through its build backend before it saves the file. With
  # --no-build-isolation that backend (scikit-build-core) would have to be installed here, so a
  # stand-in takes its name for this one command: it hands pip the sdist's own PKG-INFO and
  # refuses to build anything. pip never compiles a line of llama.cpp here.
  stub=$tmp/backend/scikit_build_core
  mkdir -p "$stub"
  : >"$stub/__init__.py"
  cat >"$stub/build.py" <<'PY'
import os, shutil, sys

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with open("PKG-INFO", encoding="utf-8") as f:
        fields = dict(line.split(": ", 1) for line in f.read().split("\n\n")[0].splitlines() if ": " in line)
    name = fields["Name"].replace("-", "_")
    dist_info = f"{name}-{fields['Version']}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info))
    shutil.copy("PKG-INFO", os.path.join(metadata_directory, dist_info, "METADATA"))
    return dist_info

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(*args, **kwargs):
    sys.exit("this stand-in backend only reads metadata; it builds nothing")

build_sdist = build_wheel
PY
  say "downloading llama-cpp-python $VERSION's source distribution (about 75 MB)"
  if ! PYTHONPATH="$tmp/backend${PYTHONPATH:+:$PYTHONPATH}" python3 -m pip download --quiet --disable-pip-version-check \
    --no-deps --no-binary :all: --no-build-isolation -d "$tmp/dl" "llama-cpp-python==$VERSION"; then
    rm -rf "$tmp"
    die "pip could not download llama-cpp-python==$VERSION (source distribution); check the network and pip's index settings"
  fi
  [ -f "$tmp/dl/$SDIST" ] || { rm -rf "$tmp"; die "pip did not save $SDIST (found: $(ls "$tmp/dl"))"; }
  mv "$tmp/dl/$SDIST" "$root/$SDIST"
  rm -rf "$tmp"
}

mkdir -p "$root"
# Another version's download, source and build are of no more use.
find "$root" -mindepth 1 -maxdepth 1 \( -name 'llama_cpp_python-*.tar.gz' -o -name 'llama.cpp-*' -o -name 'build-*' -o -name '.fetch.*' \) \
  ! -name "$SDIST" ! -name "llama.cpp-$VERSION" ! -name "build-$VERSION" -exec rm -rf {} +

if [ ! -f "$src/.complete" ]; then
  if [ ! -f "$root/$SDIST" ] || [ "$(sha_of "$root/$SDIST")" != "$SHA256" ]; then
    fetch_sdist
  fi
  got=$(sha_of "$root/$SDIST")
  if [ "$got" != "$SHA256" ]; then
    mv "$root/$SDIST" "$root/$SDIST.rejected"
    die "$SDIST has sha256 $got, not the $SHA256 this script expects; it is kept as $root/$SDIST.rejected. Run again to download it anew; if it still differs, llama-cpp-python $VERSION was published anew: check its release, then update SHA256 in scripts/llama-cpp.sh"
  fi
  say "verified $SDIST (sha256 $SHA256); unpacking vendor/llama.cpp"
  rm -rf "$src" "$root/.unpack"
  mkdir -p "$root/.unpack"
  tar -xzf "$root/$SDIST" -C "$root/.unpack" "llama_cpp_python-$VERSION/vendor/llama.cpp"
  mv "$root/.unpack/llama_cpp_python-$VERSION/vendor/llama.cpp" "$src"
  rm -rf "$root/.unpack"
  touch "$src/.complete"
fi

# --- the tools, built like Quill's llama.cpp --------------------------------------------------

command -v cmake >/dev/null || die "cmake is needed to build $targets: run 'make deps' (scripts/install-deps)"
# CMake picks the compilers (CC and CXX, else its own search); one of each must be there.
have() { command -v "${1%% *}" >/dev/null; }
if [ -n "${CXX:-}" ]; then have "$CXX"; else have c++ || have g++ || have clang++; fi ||
  die "a C++ compiler is needed to build $targets (c++, g++ or clang++): run 'make deps' (scripts/install-deps) or install one, e.g. apt-get install g++"
if [ -n "${CC:-}" ]; then have "$CC"; else have cc || have gcc || have clang; fi ||
  die "a C compiler is needed to build $targets (cc, gcc or clang): run 'make deps' (scripts/install-deps) or install one, e.g. apt-get install gcc"

flags=${CFLAGS:-}
cxxflags=${CXXFLAGS:-}
if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
  # As in .cargo/config.toml: -march=native would otherwise compile the AMX kernels in.
  flags="$flags -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cxxflags="$cxxflags -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
fi
cmake_args=(
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_C_FLAGS="$flags"
  -DCMAKE_CXX_FLAGS="$cxxflags"
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE=ON -DGGML_CCACHE=OFF
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
  -DGGML_OPENMP=ON
  -DGGML_BACKEND_DL=OFF -DGGML_CUDA=OFF -DGGML_HIP=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF
  -DGGML_OPENCL=OFF -DGGML_SYCL=OFF -DGGML_RPC=OFF -DGGML_BLAS=OFF
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMIT="$LLAMA_COMMIT"
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  "${extra_cmake_args[@]}"
)
stamp="$VERSION $targets ${cmake_args[*]} CC=${CC:-} CXX=${CXX:-} $(cmake --version | head -1)"
if [ ! -x "$build/bin/${targets%% *}" ] || [ "$(cat "$build/.stamp" 2>/dev/null)" != "$stamp" ]; then
  # Other flags start afresh; an interrupted build with these flags carries on where it stopped.
  [ "$(cat "$build/.flags" 2>/dev/null)" = "$stamp" ] || rm -rf "$build"
  mkdir -p "$build"
  echo "$stamp" >"$build/.flags"
  say "building $targets from llama.cpp in llama-cpp-python $VERSION (several minutes; log in $build/build.log)"
  if ! nice -n 10 cmake -S "$src" -B "$build" "${cmake_args[@]}" >"$build/build.log" 2>&1 ||
    ! nice -n 10 cmake --build "$build" --config Release --target $targets -j"$cores" >>"$build/build.log" 2>&1; then
    tail -n 30 "$build/build.log" >&2
    die "building $targets failed; the whole log is in $build/build.log"
  fi
  echo "$stamp" >"$build/.stamp"
fi

