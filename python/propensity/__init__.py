"""propensity: a warehouse-native predictive audience engine."""

__version__ = "0.1.0"
