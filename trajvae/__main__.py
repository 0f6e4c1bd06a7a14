import sys

from trajvae.cli import main

sys.exit(main())
