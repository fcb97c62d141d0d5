"""Extra models, one file each, registered when a stage or a saved model names them
(params.yaml `extra_models`). The file's name is the model's name in params.yaml."""
