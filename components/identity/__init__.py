"""Identity generation: faces from GAN seeds (dcgan64, stylegan2) or real photos (folder)."""
