"""Face denoising on FER2013: a DVC pipeline of small, readable stages.

Importing the package is cheap: modules that need Keras import it themselves.
"""

import os

# TensorFlow's C++ logs (CPU feature notices, harmless NodeDef attribute errors) read like
# failures in every stage's output; set TF_CPP_MIN_LOG_LEVEL=0 to see them. This runs before any
# module of the package imports TensorFlow. (The two lines TensorFlow prints before its logging
# starts cannot be turned off this way.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
