"""The reference recipes, one table read by both sides: `clgrad` gets the
command-line arguments, bench/recipes/torch_recipe.py builds the same
nn.Sequential (bench/layers/common.py) and trains it the same way.

Every recipe: Adam, cross-entropy, the data shuffled each epoch (each side with
its own generator), the last partial batch kept, both sides starting from the
same weights (PyTorch's default initialisation, saved and given to clgrad with
--init)."""

RECIPES = {
    # Fashion-MNIST, 60000 train / 10000 test images. The dataset's benchmark
    # table lists 0.903-0.934 for 2-conv nets.
    "cnn": {
        "data": "fashion-mnist",
        "spec": "cnn:32,64,fc=128,bn=1",
        "model": {"channels": (32, 64), "fc": 128, "bn": 1},
        "batch": 128, "lr": 0.001, "epochs": 6, "cosine": True,
    },
    # Byte-level language models on the fortunes corpus (common.fortunes_corpus,
    # its first 600 kB by default), seq 64, the last 10 % of windows as the
    # test set: one epoch is 264 steps of 32 windows.
    "lstm": {
        "data": "text",
        "spec": "lstm:128,dim=64",
        "model": {"hidden": 128, "dim": 64},
        "batch": 32, "lr": 0.003, "epochs": 1, "cosine": False,
    },
    "transformer": {
        "data": "text",
        "spec": "transformer:d=64,heads=4,layers=2,seq=64",
        "model": {"d": 64, "heads": 4, "layers": 2, "seq": 64},
        "batch": 32, "lr": 0.002, "epochs": 1, "cosine": False,
    },
}


def clgrad_args(name, data_path, epochs=None):
    """clgrad's options for the recipe; epochs overrides its length (the
    cosine schedule then spans the new length, as in torch_recipe.py)."""
    r = RECIPES[name]
    epochs = epochs or r["epochs"]
    data = ("fashion-mnist:" + data_path) if r["data"] == "fashion-mnist" else \
        "text:%s,seq=64" % data_path
    a = ["--data", data, "--model", r["spec"], "--batch-size", str(r["batch"]),
         "--optimizer", "adam", "--lr", str(r["lr"]), "--epochs", str(epochs)]
    if r["cosine"]:
        a += ["--scheduler", "cosine:T_max=%d" % epochs]
    return a
