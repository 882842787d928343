/**
 * Files in and out of the page: a run directory's config.json and checkpoint.safetensors (as
 * `latticeflow train` writes them) and ensembles as .npy. Nothing leaves the browser.
 */

/** Point the link `a` at `bytes` as a download named `name`. */
export function offer(a, name, bytes, type = "application/octet-stream") {
  if (a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(new Blob([bytes], { type }));
  a.download = name;
  a.hidden = false;
}

/** The files of a drop: plain files, and the files inside dropped folders (one level deep). */
export async function droppedFiles(dataTransfer) {
  const out = [];
  const entries = Array.from(dataTransfer.items ?? [], (i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length === 0) return Array.from(dataTransfer.files);
  const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
  for (const entry of entries) {
    if (entry.isFile) out.push(await fileOf(entry));
    else if (entry.isDirectory) {
      const children = await new Promise((resolve, reject) =>
        entry.createReader().readEntries(resolve, reject),
      );
      for (const c of children) if (c.isFile) out.push(await fileOf(c));
    }
  }
  return out;
}

/**
 * A run from its files: config.json and checkpoint.safetensors, and if present
 * train_state.safetensors (Adam's state and the random stream, to train on as `latticeflow train
 * --resume` does) and metrics.jsonl (the history, for the training figure). Other files of the
 * directory are ignored. Throws one line saying what is missing.
 */
export async function readRun(files) {
  const list = Array.from(files);
  const config = list.find((f) => f.name === "config.json") ?? list.find((f) => f.name.endsWith(".json"));
  const checkpoint =
    list.find((f) => f.name === "checkpoint.safetensors") ??
    list.find((f) => f.name.endsWith(".safetensors") && !f.name.startsWith("train_state"));
  const trainState = list.find((f) => f.name === "train_state.safetensors");
  const metrics = list.find((f) => f.name === "metrics.jsonl");
  if (!config || !checkpoint) {
    throw new Error(
      `a run needs config.json and checkpoint.safetensors (from 'latticeflow train --out DIR' or this page), got ${list.map((f) => f.name).join(", ") || "no files"}`,
    );
  }
  let parsed;
  try {
    parsed = JSON.parse(await config.text());
  } catch (e) {
    throw new Error(`${config.name} is not valid JSON (${e.message})`);
  }
  const history = [];
  // Lines cut by a crash are skipped, as `latticeflow train --resume` skips them.
  if (metrics)
    for (const line of (await metrics.text()).split("\n")) {
      try {
        if (line.trim() !== "") history.push(JSON.parse(line));
      } catch {}
    }
  // A later line of the same step wins (a resume after a crash rewrites steps).
  const byStep = new Map(history.map((r) => [r?.step, r]));
  return {
    config: parsed,
    checkpoint: new Uint8Array(await checkpoint.arrayBuffer()),
    trainState: trainState ? new Uint8Array(await trainState.arrayBuffer()) : undefined,
    metrics: [...byStep.values()].sort((x, y) => x.step - y.step),
  };
}
