/**
 * Node-only rendering of figure specs: Vega-Lite → Vega → SVG (vega's headless SVG string
 * renderer: no browser, no canvas), SVG → PNG with resvg (prebuilt binaries shipped as npm
 * packages: no native build step). Files are written atomically.
 *
 * Rendering is synchronous so that `train --plot-every` can refresh figures between steps:
 * vega and vega-lite are loaded lazily with require() (vega 5 ships a CommonJS build for Node),
 * so commands that draw nothing do not pay for loading them, and the dataflow, which for inline
 * data never waits on anything, is evaluated with `view.run()` and drawn with vega's
 * SVGStringRenderer, exactly what the asynchronous `view.toSVG()` does (a test checks that the
 * two agree).
 */
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type * as ResvgModule from "@resvg/resvg-js";
import type * as VegaModule from "vega";
import type * as VegaLiteModule from "vega-lite";
import { writeFileAtomic } from "../io/files.js";
import type { Figure, TopLevelSpec } from "./specs/common.js";

const require = createRequire(import.meta.url);

let modules: { vega: typeof VegaModule; vl: typeof VegaLiteModule; resvg: typeof ResvgModule } | undefined;

function load() {
  modules ??= {
    vega: require("vega") as typeof VegaModule,
    vl: require("vega-lite") as typeof VegaLiteModule,
    resvg: require("@resvg/resvg-js") as typeof ResvgModule,
  };
  return modules;
}

export interface RenderOptions {
  /** Called with each warning of the Vega-Lite compiler or the Vega runtime (default: ignored). */
  onWarning?: (message: string) => void;
}

function logger(onWarning: (m: string) => void) {
  let level = 2;
  const say = (...args: unknown[]) => onWarning(args.map(String).join(" "));
  const self = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return self;
    },
    error: (...args: unknown[]) => {
      throw new Error(args.map(String).join(" "));
    },
    warn: (...args: unknown[]) => {
      say(...args);
      return self;
    },
    info: () => self,
    debug: () => self,
  };
  return self;
}

/** Compile a Vega-Lite spec to a Vega spec. */
export function compileSpec(spec: TopLevelSpec, opts: RenderOptions = {}): VegaModule.Spec {
  const { vl } = load();
  const onWarning = opts.onWarning ?? (() => {});
  return vl.compile(spec, { logger: logger(onWarning) as never }).spec as VegaModule.Spec;
}

function newView(spec: TopLevelSpec, opts: RenderOptions): VegaModule.View {
  const { vega } = load();
  const onWarning = opts.onWarning ?? (() => {});
  return new vega.View(vega.parse(compileSpec(spec, opts)), {
    renderer: "none",
    logger: logger(onWarning) as never,
  });
}

/** Symbols written with an underscore in the specs, drawn with a real subscript in SVG/PNG. */
const SUBSCRIPTS: [string, string, string][] = [
  ["S_eff", "S", "eff"],
  ["m_eff", "m", "eff"],
  ["τ_int", "τ", "int"],
  ["G_c", "G", "c"],
  ["Σ_x", "Σ", "x"],
  ["χ_t", "χ", "t"],
  ["P_01", "P", "01"],
  ["F_q", "F", "q"],
  ["Z_x", "Z", "x"],
  ["E_q", "E", "q"],
];

/** Turn the known `X_sub` symbols in text content (also in multi-line tspans) into X with a subscript. */
export function subscriptSymbols(svg: string): string {
  const sub = (text: string) => {
    let t = text;
    for (const [plain, base, low] of SUBSCRIPTS) {
      t = t.split(plain).join(`${base}<tspan baseline-shift="sub" font-size="72%">${low}</tspan>`);
    }
    return t;
  };
  return svg.replace(/<text\b[^>]*>[\s\S]*?<\/text>/g, (el) =>
    el.replace(/>([^<]+)</g, (_m, t: string) => `>${sub(t)}<`),
  );
}

/**
 * Renumber vega's clip-path and gradient ids (process-wide counters) from 1 in order of
 * appearance, so the same figure always gives the same file.
 */
export function normaliseIds(svg: string): string {
  const seen = new Map<string, string>();
  const counters: Record<string, number> = {};
  return svg.replace(/\b(clip|gradient_)(\d+)\b/g, (all, prefix: string) => {
    let id = seen.get(all);
    if (id === undefined) {
      counters[prefix] = (counters[prefix] ?? 0) + 1;
      id = `${prefix}${counters[prefix]}`;
      seen.set(all, id);
    }
    return id;
  });
}

/** The SVG document of a spec, synchronously. */
export function renderSvg(spec: TopLevelSpec, opts: RenderOptions = {}): string {
  const { vega } = load();
  const view = newView(spec, opts);
  try {
    view.run();
    // As vega-view's renderHeadless: the view's size plus padding, origin offset by the padding.
    const v = view as unknown as { _viewWidth: number; _viewHeight: number; _origin: [number, number] };
    const pad = view.padding() as { left: number; right: number; top: number; bottom: number };
    const width = Math.max(0, v._viewWidth + pad.left + pad.right);
    const height = Math.max(0, v._viewHeight + pad.top + pad.bottom);
    const renderer = new (
      vega as unknown as { SVGStringRenderer: new (loader: unknown) => SvgRenderer }
    ).SVGStringRenderer(view.loader());
    renderer
      .initialize(null, width, height, [pad.left + v._origin[0], pad.top + v._origin[1]], 1)
      .background(view.background())
      .render((view.scenegraph() as unknown as { root: unknown }).root);
    return subscriptSymbols(normaliseIds(renderer.svg()));
  } finally {
    view.finalize();
  }
}

interface SvgRenderer {
  initialize(el: null, w: number, h: number, origin: [number, number], scale: number): SvgRenderer;
  background(bg: unknown): SvgRenderer;
  render(scene: unknown): SvgRenderer;
  svg(): string;
}

/** vega's own asynchronous `view.toSVG()` (for tests: renderSvg must produce the same). */
export async function renderSvgAsync(spec: TopLevelSpec, opts: RenderOptions = {}): Promise<string> {
  const view = newView(spec, opts);
  try {
    return subscriptSymbols(normaliseIds(await view.toSVG()));
  } finally {
    view.finalize();
  }
}

const FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu"];
const FONT_FILES = [
  "DejaVuSans.ttf",
  "DejaVuSans-Bold.ttf",
  "DejaVuSans-Oblique.ttf",
  "DejaVuSans-BoldOblique.ttf",
];
let fontOptions: ResvgModule.ResvgRenderOptions["font"] | undefined;

/**
 * The figures' font is DejaVu Sans (matplotlib's default). Loading four files is much faster
 * than scanning every system font for each image; without DejaVu, the system fonts are used.
 */
function fonts(): ResvgModule.ResvgRenderOptions["font"] {
  if (fontOptions) return fontOptions;
  const dir = FONT_DIRS.find((d) => existsSync(join(d, FONT_FILES[0]!)));
  fontOptions = dir
    ? {
        loadSystemFonts: false,
        fontFiles: FONT_FILES.map((f) => join(dir, f)).filter((f) => existsSync(f)),
        defaultFontFamily: "DejaVu Sans",
        sansSerifFamily: "DejaVu Sans",
      }
    : { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" };
  return fontOptions;
}

/** Rasterise an SVG document; `scale` 2 gives crisp figures on high-DPI screens and in reports. */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const { resvg } = load();
  const r = new resvg.Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: fonts(),
  });
  return r.render().asPng();
}

export interface RenderedFigure {
  name: string;
  svg: string;
  png: Uint8Array;
  notes: Record<string, number>;
}

export function renderFigure(fig: Figure, opts: RenderOptions & { scale?: number } = {}): RenderedFigure {
  const svg = renderSvg(fig.spec, opts);
  return { name: fig.name, svg, png: svgToPng(svg, opts.scale), notes: fig.notes ?? {} };
}

/** Write `<dir>/<name>.svg` and `<dir>/<name>.png` for each figure (atomically); returns the paths. */
export function writeFigures(dir: string, figures: readonly RenderedFigure[]): string[] {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (const f of figures) {
    const svg = join(dir, `${f.name}.svg`);
    const png = join(dir, `${f.name}.png`);
    writeFileAtomic(svg, f.svg);
    writeFileAtomic(png, f.png);
    paths.push(svg, png);
  }
  return paths;
}
