"""The headline of a run: the few numbers per task and model that `dvc exp show` and
`dvc metrics diff` show. The stages write everything else to detail files beside them."""


def headline(scores: dict[str, dict], denoisers: list[str], faces: int) -> dict[str, dict]:
    """A task's scores as `dvc exp show` should show them: PSNR and SSIM of the noisy input, of
    the best classical filter, of each denoiser and of the best denoiser.

    Only filters scored on all `faces` compete for best (BM3D runs on a subset); the details
    file keeps every filter with its setting and MSE.
    """

    def short(name: str) -> dict[str, float]:
        return {"psnr": scores[name]["psnr"], "ssim": scores[name]["ssim"]}

    filters = [
        name
        for name, score in scores.items()
        if name != "noisy" and name not in denoisers and score.get("images", faces) == faces
    ]
    best_filter = max(filters, key=lambda name: scores[name]["psnr"])
    result = {"noisy": short("noisy"), "best_filter": short(best_filter)}
    result |= {name: short(name) for name in denoisers}
    if denoisers:
        result["best"] = short(max(denoisers, key=lambda name: scores[name]["psnr"]))
    return result


def accuracy_only(results: dict) -> dict:
    """The headline for `dvc exp show`: accuracy alone (macro-F1 stays in the details)."""
    return {
        key: {"accuracy": value["accuracy"]}
        if "accuracy" in value
        else {name: {"accuracy": score["accuracy"]} for name, score in value.items()}
        for key, value in results.items()
    }
