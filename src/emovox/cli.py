"""The `emovox` command line: corpora, features, training and evaluation, predictions, export, serving."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from emovox import __version__
from emovox.audio import AudioConfig
from emovox.corpora import CORPUS_NAMES, Manifest, find_duplicates, read_corpus
from emovox.errors import AudioError, ConfigError, EmovoxError, EmovoxWarning
from emovox.features import FeatureSet, extract

if TYPE_CHECKING:  # the inference package imports torch: loaded where a command needs it
    from emovox.inference.result import Prediction


def _print_summary(manifest: Manifest) -> None:
    summary = manifest.summary()
    print(f"corpus    {summary['corpus']}")
    print(f"clips     {summary['clips']}")
    print(f"speakers  {summary['speakers']}")
    print("labels")
    width = max(len(label) for label in summary["labels"])
    for label, count in summary["labels"].items():
        print(f"  {label:<{width}}  {count:>5}")
    if manifest.rejected:
        print(f"rejected  {len(manifest.rejected)} file(s) or row(s), not used:")
        for item in manifest.rejected[:10]:
            print(f"  {item.path}: {item.reason}")
        if len(manifest.rejected) > 10:
            print(f"  ... and {len(manifest.rejected) - 10} more")


def cmd_corpus_summary(args: argparse.Namespace) -> int:
    manifest = read_corpus(args.name, args.root, strict=args.strict)
    duplicates = [[manifest[i].path for i in group] for group in find_duplicates(manifest)]
    if args.json:
        summary = manifest.summary()
        summary["rejected"] = [{"path": r.path, "reason": r.reason} for r in manifest.rejected]
        summary["duplicates"] = duplicates
        print(json.dumps(summary))
    else:
        _print_summary(manifest)
        for group in duplicates:
            print(f"identical recordings: {', '.join(group)}")
    return 0


def cmd_corpus_manifest(args: argparse.Namespace) -> int:
    manifest = read_corpus(args.name, args.root, strict=args.strict)
    manifest.to_csv(args.out)
    print(f"wrote {len(manifest)} clips to {args.out}", file=sys.stderr)
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    manifest = read_corpus(args.name, args.root, strict=args.strict)
    audio = AudioConfig(trim_silence=args.trim, max_seconds=args.max_seconds)
    start = time.perf_counter()
    table = extract(
        manifest,
        [args.set],
        audio=audio,
        jobs=args.jobs,
        cache_dir=None if args.no_cache else (args.cache_dir or "default"),
        progress=not args.quiet,
        engine=args.engine,
        ray_address=args.ray_address,
    )[args.set]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.save(out)
    shape = "x".join(str(n) for n in table.values.shape)
    print(
        f"{table.name}: {len(table)} clips, {len(table.feature_names)} features "
        f"(array {shape}) in {time.perf_counter() - start:.1f} s -> {out}",
        file=sys.stderr,
    )
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    from emovox.evaluation import load_experiment, run_cv

    experiment = load_experiment(args.config, args.set or ())
    out = Path(args.out or Path("runs") / experiment.name)
    report = run_cv(experiment, out, progress=not args.quiet, jobs=args.jobs, resume=args.resume,
                    validation=not args.no_val_predictions)  # fmt: skip
    print(
        f"{experiment.name}: UAR {100 * report['uar_mean']:.1f} ± {100 * report['uar_std']:.1f} %, "
        f"WA {100 * report['wa_mean']:.1f} ± {100 * report['wa_std']:.1f} % "
        f"over {len(report['folds'])} folds ({report['seconds'] / 60:.1f} min) -> {out}/report.md"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from emovox.evaluation import load_experiment
    from emovox.recipes.train import train_and_save

    experiment = load_experiment(args.config, args.set or ())
    artifact = train_and_save(
        experiment,
        args.out,
        args.cv_report,
        not args.quiet,
        args.jobs,
        checkpoint_dir=args.checkpoints,
        resume=args.resume,
        cross_corpus_report=args.cross_corpus_report,
        cross_corpus_recipe=args.cross_corpus_recipe,
    )
    meta = artifact.metadata
    minutes = meta["training_seconds"] / 60
    print(f"{experiment.name}: {meta['selection']} ({minutes:.1f} min) -> {args.out}")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from emovox.recipes.train import attach_reports

    if not (args.cv_report or args.cross_corpus_report):
        raise ConfigError("name a report to attach: --cv-report and/or --cross-corpus-report")
    attach_reports(args.model, args.cv_report, args.cross_corpus_report, args.cross_corpus_recipe)
    print(f"{args.model}: model card rewritten ({Path(args.model) / 'MODEL_CARD.md'})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from emovox.artifact import load_model
    from emovox.artifact.evaluate import evaluate_on_corpus

    report = evaluate_on_corpus(load_model(args.model), args.corpus, args.root, args.labels, jobs=args.jobs)
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{args.corpus}: {report['clips']} clips ({report['excluded']} with other labels left out), "
        f"UAR {100 * report['uar']:.1f} %, WA {100 * report['wa']:.1f} %"
    )
    for label, scores in report["per_class"].items():
        print(f"  {label:<12} recall {100 * scores['recall']:5.1f} %  (n={scores['support']})")
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from emovox.artifact import combine

    ensemble = combine(args.models, args.out)
    print(
        f"soft-voting ensemble of {len(ensemble.members)} models ({', '.join(ensemble.labels)}) -> {args.out}"
    )
    return 0


def one_line(text: object) -> str:
    """`text` on one line: a newline or other control character in a file name is shown escaped
    (`\\n`), so each file stays one line of the output."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(text))


def _report_error(error: EmovoxError) -> None:
    """One form for every error: `emovox: error: <reason>` on stderr (the reason names the file)."""
    print(f"emovox: error: {one_line(error)}", file=sys.stderr)


def _prediction_inputs(inputs: list[str]) -> list[str | EmovoxError]:
    """Files as given, directories as the audio files under them; an empty directory is an error."""
    from emovox.audio import AUDIO_EXTENSIONS, audio_files

    kinds = ", ".join(sorted(AUDIO_EXTENSIONS))
    return [
        AudioError(f"{path}: no audio files under this directory ({kinds})") if Path(path).is_dir() else path
        for path in audio_files(inputs)
    ]


def cmd_predict(args: argparse.Namespace) -> int:
    """Exit status: 0 when every file was predicted, 1 when any failed (the others are still
    predicted and printed; each failure is one `emovox: error:` line on stderr)."""
    from emovox.inference import EmotionPredictor
    from emovox.inference.diarisation import check_speakers_option
    from emovox.inference.result import speaker_summary

    check_speakers_option(args.speakers, args.timeline)
    inputs = _prediction_inputs(args.files)
    paths = [item for item in inputs if isinstance(item, str)]
    failed = [item for item in inputs if not isinstance(item, str)]
    for error in failed:
        _report_error(error)
    predictor = EmotionPredictor.load(args.model, backend=args.backend).restricted(args.labels)
    if args.timeline:
        for path in paths:
            try:
                segments = predictor.timeline(path, adapt=args.adapt, speakers=args.speakers,
                                              progress=not args.quiet and not args.json)  # fmt: skip
            except EmovoxError as exc:
                failed.append(exc)
                _report_error(exc)
                continue
            summary = speaker_summary(segments)
            if args.json:
                speakers = {"speakers": summary} if args.speakers is not None else {}
                print(json.dumps({"path": path, "segments": [s.to_dict() for s in segments], **speakers}))
                continue
            print(one_line(path))
            for s in segments:
                whose = f"{s.speaker:<4}" if s.speaker is not None else ""
                print(f"  {s.start:8.2f} - {s.end:8.2f} s  {whose}{verdict(s.prediction)}")
            for speaker, entry in summary.items():
                shares = ", ".join(
                    f"{label} {100 * share:.0f} %" for label, share in entry["emotions"].items() if share
                )
                print(f"  {speaker}: {entry['seconds']:.1f} s of speech: {shares}")
        return 1 if failed else 0
    show_progress = not args.quiet and not args.json and len(paths) > 1
    results = predictor.predict_many(paths, jobs=args.jobs, progress=show_progress, errors="return",
                                     adapt=bool(args.adapt))  # fmt: skip
    width = max((len(one_line(path)) for path in paths), default=0)
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, EmovoxError):
            failed.append(result)
            _report_error(result)
        elif args.json:
            print(json.dumps({"path": path, **result.to_dict()}))
        else:
            print(f"{one_line(path):<{width}}  {verdict(result)}")
    return 1 if failed else 0


def verdict(prediction: Prediction) -> str:
    """`angry       87.3 %`, with `  uncertain` when the model flags its answer as a guess."""
    flag = "  uncertain" if prediction.uncertain else ""
    return f"{prediction.label:<10} {100 * max(prediction.confidence):5.1f} %{flag}"


def cmd_batch(args: argparse.Namespace) -> int:
    """Exit status 0 when every file in the output was predicted, 1 when any row has an error."""
    from emovox.batch import BatchOptions, run_batch

    options = BatchOptions(args.inputs, args.out, args.model, args.workers, args.engine, args.ray_address,
                           args.timeline, args.resume, args.batch_size, not args.quiet,
                           args.labels, args.speakers, args.adapt_by)  # fmt: skip
    summary = run_batch(options)
    print(f"{summary['files']} files ({summary['predicted_now']} now, {summary['failed']} failed) in "
          f"{summary['seconds']:.1f} s -> {summary['out']}", file=sys.stderr)  # fmt: skip
    return 1 if summary["failed"] else 0


def cmd_export(args: argparse.Namespace) -> int:
    from emovox.artifact.ensemble import member_directories
    from emovox.artifact.graphs import ExportFormat, bind_onnx, logistic_onnx
    from emovox.artifact.store import load_model
    from emovox.inference import resolve_model

    fmt = ExportFormat(args.format)
    source = resolve_model(args.model)
    ensemble = (source / "ensemble.json").is_file()
    if args.out and ensemble:
        raise ConfigError("--out is for a single model; an ensemble's members are exported in place")
    for directory in member_directories(source) if ensemble else [source]:
        artifact = load_model(directory)
        out = Path(args.out or directory / fmt.filename)
        if artifact.model_name == "logreg" and fmt is ExportFormat.ONNX:  # no PyTorch needed
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(logistic_onnx(artifact))
        elif not artifact.is_network:
            raise ConfigError(f"{directory}: {artifact.model_name} models do not export (logreg: ONNX; "
                              "networks: ONNX and TorchScript)")  # fmt: skip
        else:
            from emovox.artifact.export import export_model

            out = export_model(artifact, fmt, out)
        if fmt is ExportFormat.ONNX and not args.out:  # inside the directory: bound to its weights
            bind_onnx(directory, out)
        print(f"{artifact.model_name} -> {out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from emovox.service import ServiceAccess, ServiceLimits, serve

    limits = ServiceLimits(
        max_upload_bytes=args.max_upload_mb * 1024 * 1024,
        max_audio_seconds=args.max_audio_seconds,
        max_streams=args.max_streams,
        workers=args.workers,
        idle_timeout_seconds=args.idle_timeout,
        read_timeout_seconds=args.read_timeout,
    )
    token = args.token or os.environ.get("EMOVOX_TOKEN") or None
    serve(
        args.model, args.host, args.port, args.backend, limits, ServiceAccess(token, tuple(args.allow_origin))
    )
    return 0


def port_number(text: str) -> int:
    """A TCP port for argparse: 1 to 65535 (0 would be any free port, which no one could find)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {port}")
    return port


SPEAKERS_HELP = (
    "with --timeline: who speaks when, 'auto' or a number of speakers; each segment gets its speaker "
    "(S1, S2, ...), and each speaker is normalised with their own segments (--no-adapt: not)"
)
LABELS_HELP = "answer among these labels only, e.g. neutral,happy,sad,angry (probabilities renormalised)"


def report_args(command: argparse.ArgumentParser) -> None:
    """The evaluations a model card quotes."""
    command.add_argument("--cv-report", default=None, help="report.json of `emovox cv` for the model card")
    command.add_argument("--cross-corpus-report", default=None,
                         help="benchmarks/seven_corpora.py or multicorpus.py JSON, for the card")  # fmt: skip
    command.add_argument("--cross-corpus-recipe", default=None,
                         help="seven_corpora.py's recipe the model is trained by, e.g. crops")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emovox", description="Speech emotion recognition: corpora, features, models."
    )
    parser.add_argument("--version", action="version", version=f"emovox {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    def corpus_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("name", choices=CORPUS_NAMES, help="corpus reader (csv: root is the file)")
        p.add_argument("--root", required=True, help="corpus folder in its original layout")
        p.add_argument("--strict", action="store_true", help="fail if any file does not parse")

    corpus = commands.add_parser("corpus", help="inspect a corpus").add_subparsers(
        dest="action", required=True
    )
    summary = corpus.add_parser("summary", help="clips, speakers and clips per label")
    corpus_args(summary)
    summary.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    summary.set_defaults(func=cmd_corpus_summary)
    manifest = corpus.add_parser("manifest", help="write the manifest as CSV")
    corpus_args(manifest)
    manifest.add_argument("--out", required=True, help="CSV file to write")
    manifest.set_defaults(func=cmd_corpus_manifest)

    features = commands.add_parser("features", help="extract a feature set for a corpus")
    corpus_args(features)
    features.add_argument("--set", required=True, choices=[s.value for s in FeatureSet])
    features.add_argument("--out", required=True, help=".npz file: values, names, manifest")
    features.add_argument(
        "--jobs", type=int, default=None, help="worker processes, or Ray actors (default: one per core)"
    )
    features.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local worker processes, or Ray Data (pip install -e '.[ray]')",
    )
    features.add_argument("--ray-address", default=None, help="a running Ray cluster (default: a local Ray)")
    features.add_argument("--cache-dir", default=None, help="feature cache folder")
    features.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    features.add_argument("--trim", action="store_true", help="trim leading/trailing silence")
    features.add_argument("--max-seconds", type=float, default=600.0, help="longest clip accepted")
    features.add_argument("--quiet", action="store_true", help="no progress bar")
    features.set_defaults(func=cmd_features)

    def experiment_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", help="experiment file, e.g. configs/mlp.toml")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. train.epochs=5")
        p.add_argument("--jobs", type=int, default=None, help="feature extraction workers")
        p.add_argument("--quiet", action="store_true", help="no progress output")

    cv = commands.add_parser("cv", help="cross-validate an experiment (TOML) by its protocol")
    experiment_args(cv)
    cv.add_argument("--out", default=None, help="output folder (default runs/NAME)")
    cv.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    cv.add_argument("--no-val-predictions", action="store_true",
                    help="skip validation predictions (ensembles): each fold is fitted once")  # fmt: skip
    cv.set_defaults(func=cmd_cv)

    train = commands.add_parser("train", help="train an experiment's model and save a model directory")
    experiment_args(train)
    train.add_argument("--out", required=True, help="model directory to write")
    report_args(train)
    train.add_argument("--checkpoints", default=None, help="folder for resumable checkpoints and epoch log")
    train.add_argument("--resume", action="store_true", help="continue an interrupted run from --checkpoints")
    train.set_defaults(func=cmd_train)

    card = commands.add_parser("card", help="attach evaluations run after training to a model's card")
    card.add_argument("model", help="model directory (its weights are left as they are)")
    report_args(card)
    card.set_defaults(func=cmd_card)

    evaluate = commands.add_parser("evaluate", help="score a model directory on a labelled corpus")
    evaluate.add_argument("model", help="model directory")
    evaluate.add_argument("--corpus", required=True, choices=CORPUS_NAMES)
    evaluate.add_argument("--root", required=True, help="corpus folder (csv: the file)")
    evaluate.add_argument("--labels", choices=["native", "shared"], default="native",
                          help="shared: map the corpus's labels onto the shared set first")  # fmt: skip
    evaluate.add_argument("--jobs", type=int, default=None, help="feature extraction workers")
    evaluate.add_argument("--json", action="store_true", help="the full report as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    ensemble = commands.add_parser("ensemble", help="combine model directories into a soft-voting ensemble")
    ensemble.add_argument("models", nargs="+", help="model directories (same labels)")
    ensemble.add_argument("--out", required=True, help="ensemble directory to write")
    ensemble.set_defaults(func=cmd_ensemble)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default="default", help="model or ensemble directory (default: bundled)")
        # onnxruntime is about twice as fast per clip and per stream (benchmarks/inference.py)
        p.add_argument("--backend", choices=["torch", "onnx"], default="onnx",
                       help="inference runtime (default: onnx)")  # fmt: skip

    predict = commands.add_parser(
        "predict",
        help="emotions of audio files",
        description="Emotions of audio files. Exit status 0 when every file was predicted, 1 when any "
        "failed (the others are still predicted; each failure is an 'emovox: error:' line on stderr).",
    )
    predict.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG, MP3, ...) or directories")
    model_args(predict)
    predict.add_argument("--json", action="store_true", help="one JSON object per line")
    predict.add_argument("--labels", default=None, help=LABELS_HELP)
    predict.add_argument("--timeline", action="store_true", help="per-segment results for long recordings")
    predict.add_argument("--adapt", action=argparse.BooleanOptionalAction, default=None,
                         help="the files are one speaker or set-up: normalise with their own statistics "
                              "(a --timeline does so by default, each recording with its own segments, "
                              "each speaker with --speakers; --no-adapt: never)")  # fmt: skip
    predict.add_argument("--speakers", default=None, help=SPEAKERS_HELP)
    predict.add_argument("--jobs", type=int, default=None, help="parallel threads (default: cores)")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(func=cmd_predict)

    batch = commands.add_parser(
        "batch",
        help="emotions of a large collection into a Parquet, CSV or JSON-lines table",
        description="One row per file (per segment with --timeline): path, label, confidence, prob_<label>, "
        "duration_s, error. Written in parts as it goes; --resume skips files already in the output. "
        "Exit status 1 when any file failed (its row says why).",
    )
    batch.add_argument(
        "inputs", nargs="+", help="audio files, directories, globs, or CSV manifests with a path column"
    )
    batch.add_argument("--out", required=True, help="the table: .parquet, .csv or .jsonl")
    batch.add_argument("--model", default="default", help="model or ensemble directory (default: bundled)")
    batch.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local worker processes, or Ray Data (pip install -e '.[ray]')")  # fmt: skip
    batch.add_argument("--ray-address", default=None, help="a running Ray cluster (default: a local Ray)")
    batch.add_argument("--workers", type=int, default=0, help="worker processes or actors (0: one per core)")
    batch.add_argument("--timeline", action="store_true", help="one row per segment of long recordings")
    batch.add_argument("--labels", default=None, help=LABELS_HELP)
    batch.add_argument("--speakers", default=None, help=SPEAKERS_HELP + " (a speaker column)")
    batch.add_argument("--adapt-by", choices=["speaker", "folder", "all"], default=None,
                       help="normalise each group of files with its own statistics: a manifest's speaker "
                       "column, the folder a file lies in (one speaker or set-up per folder), or all files "
                       "(one set-up); reads every file twice")  # fmt: skip
    batch.add_argument("--resume", action="store_true", help="keep the output's rows and predict the rest")
    batch.add_argument(
        "--batch-size",
        type=int,
        default=0,
        help="files per task and per written part (default: 32 local, 256 ray)",
    )
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    batch.set_defaults(func=cmd_batch)

    export = commands.add_parser("export", help="export a model to ONNX or TorchScript")
    export.add_argument("model", help="model or ensemble directory, or 'default'")
    export.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    export.add_argument("--out", default=None, help="file to write (default: inside the model directory)")
    export.set_defaults(func=cmd_export)

    serve = commands.add_parser("serve", help="HTTP/WebSocket service and web page")
    model_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=port_number, default=8000)
    serve.add_argument(
        "--token",
        default=None,
        help="access token the API and streams require (default: $EMOVOX_TOKEN; none: open)",
    )
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="another web page's origin (https://host:port) allowed to call it")  # fmt: skip
    serve.add_argument("--max-upload-mb", type=int, default=20)
    serve.add_argument("--max-audio-seconds", type=float, default=120.0)
    serve.add_argument("--max-streams", type=int, default=0,
                       help="live streams at once (default 0: measured at start for this model)")  # fmt: skip
    serve.add_argument(
        "--workers", type=int, default=0, help="threads for model work (default 0: one per core)"
    )
    serve.add_argument("--idle-timeout", type=float, default=30.0, help="seconds before an idle stream ends")
    serve.add_argument("--read-timeout", type=float, default=30.0, help="seconds to receive a request body")
    serve.set_defaults(func=cmd_serve)
    return parser


def _show_note(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    """Warnings of emovox as one-line notes on stderr; others as Python shows them."""
    if issubclass(category, EmovoxWarning):
        print(f"emovox: note: {message}", file=sys.stderr)
    else:
        _python_showwarning(message, category, *_, **__)  # type: ignore[arg-type]


_python_showwarning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_note
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="emovox: %(message)s"
    )
    try:
        return args.func(args)
    except EmovoxError as exc:
        print(f"emovox: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        print(
            f"emovox: error: `emovox {args.command}` needs PyTorch: pip install 'emovox[torch]'",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("emovox: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
