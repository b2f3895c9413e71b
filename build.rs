//! Give the `elbo` binary (and this package's tests) an rpath to libtorch's `lib/`, so it runs
//! with no LD_LIBRARY_PATH. torch-sys (`links = "tch"`) exports that directory as
//! DEP_TCH_LIBTORCH_LIB to packages that depend on it directly, which this package does.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.to_string_lossy());
    }
}
