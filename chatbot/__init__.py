"""A health-information chatbot that answers only from vetted articles."""
