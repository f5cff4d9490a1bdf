"""The privacy stage: are synthetic identities too close to real people?"""
