//! `misfit`: a test component that is valid Wasm but not a wafer plugin: it
//! imports an interface the host does not provide and exports a `transform`
//! of the wrong type. The host must refuse it at load time, naming the import.

wit_bindgen::generate!({
    inline: r#"
        package test:misfit;

        interface clock {
            now: func() -> u64;
        }

        world misfit {
            import clock;
            export transform: func(x: u32) -> u64;
        }
    "#,
});

struct Misfit;

impl Guest for Misfit {
    fn transform(x: u32) -> u64 {
        test::misfit::clock::now() + u64::from(x)
    }
}

export!(Misfit);
