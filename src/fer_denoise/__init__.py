"""Face denoising on FER2013: a DVC pipeline of small, readable stages.

Importing the package is cheap: modules that need Keras import it themselves.
"""
