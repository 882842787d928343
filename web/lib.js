/** The library as the page uses it: the public API, bundled from src/ by vite (the alias `latticeflow` in vite.config.js). */
export * from "latticeflow";
