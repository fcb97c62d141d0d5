"""Adversarial fine-tuning of a denoiser against a PatchGAN, in Keras 3 calls only.

Each step alternates two `train_on_batch` calls, which every Keras backend runs the same way:
1. the discriminator learns (noisy, clean) -> real and (noisy, denoised) -> fake;
2. the generator learns content + adversarial_weight * "make the discriminator say real",
   through a frozen copy of the discriminator that receives the new weights after step 1.
The copy keeps each optimizer to its own network: the generator's optimizer never sees the
discriminator's weights (the bug that stopped the reference project's generator from training).
"""

import keras
import numpy as np

CONTENT_LOSSES = {"mse": keras.losses.MeanSquaredError, "mae": keras.losses.MeanAbsoluteError}


class AdversarialPair:
    """A generator and a discriminator, each with its own optimizer, trained step by step."""

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        generator_learning_rate: float,
        discriminator_learning_rate: float,
        content_loss: str,
        adversarial_weight: float,
        label_smoothing: float,
    ):
        self.generator, self.discriminator = generator, discriminator
        self.real_label = 1.0 - label_smoothing
        realness = keras.losses.BinaryCrossentropy(from_logits=True)
        discriminator.compile(
            optimizer=keras.optimizers.Adam(discriminator_learning_rate, beta_1=0.5), loss=realness
        )
        self.judge = keras.models.clone_model(discriminator)
        self.judge.trainable = False
        noisy = keras.Input(shape=generator.input_shape[1:], name="noisy")
        denoised = generator(noisy)
        self.generator_trainer = keras.Model(
            noisy, {"denoised": denoised, "realness": self.judge([noisy, denoised])}
        )
        self.generator_trainer.compile(
            optimizer=keras.optimizers.Adam(generator_learning_rate, beta_1=0.5),
            loss={"denoised": CONTENT_LOSSES[content_loss](), "realness": realness},
            loss_weights={"denoised": 1.0, "realness": adversarial_weight},
        )
        self.patches = discriminator.output_shape[1:]

    def step(self, noisy: np.ndarray, clean: np.ndarray) -> dict[str, float]:
        """One discriminator update, then one generator update; returns the batch's losses."""
        count = len(noisy)
        fake = self.generator.predict_on_batch(noisy)
        labels = np.concatenate(
            [
                np.full((count, *self.patches), self.real_label, np.float32),
                np.zeros((count, *self.patches), np.float32),
            ]
        )
        d_loss = self.discriminator.train_on_batch(
            [np.concatenate([noisy, noisy]), np.concatenate([clean, fake])], labels
        )
        self.judge.set_weights(self.discriminator.get_weights())
        logs = self.generator_trainer.train_on_batch(
            noisy,
            {"denoised": clean, "realness": np.ones((count, *self.patches), np.float32)},
            return_dict=True,
        )
        return {
            "d_loss": float(np.asarray(d_loss).ravel()[0]),
            "g_loss": float(logs["loss"]),
            "content": float(logs["denoised_loss"]),
            "adversarial": float(logs["realness_loss"]),
        }
