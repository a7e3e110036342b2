"""Neural-network experiments (ResNet fine-tuning with beta-weighted poisons): not yet built."""
