"""The FHIR reader's parts (:mod:`iop_outcomes.io.fhir` is the public module)."""
